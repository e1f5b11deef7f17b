//! The C header is the specification and `waitressd_sdk::sys` its Rust mirror: a C
//! program compiled against `include/waitressd_app.h` prints every struct size, field
//! offset and constant, and each must equal the Rust side's.
use std::process::Command;
use waitressd_sdk::sys;

/// (what, value) pairs as the Rust mirror has them.
fn rust_layout() -> Vec<(String, i64)> {
    vec![
        (
            "wd_str size".to_string(),
            std::mem::size_of::<sys::wd_str>() as i64,
        ),
        (
            "wd_str.ptr offset".to_string(),
            std::mem::offset_of!(sys::wd_str, ptr) as i64,
        ),
        (
            "wd_str.len offset".to_string(),
            std::mem::offset_of!(sys::wd_str, len) as i64,
        ),
        (
            "wd_header size".to_string(),
            std::mem::size_of::<sys::wd_header>() as i64,
        ),
        (
            "wd_header.name offset".to_string(),
            std::mem::offset_of!(sys::wd_header, name) as i64,
        ),
        (
            "wd_header.value offset".to_string(),
            std::mem::offset_of!(sys::wd_header, value) as i64,
        ),
        (
            "wd_opt size".to_string(),
            std::mem::size_of::<sys::wd_opt>() as i64,
        ),
        (
            "wd_opt.key offset".to_string(),
            std::mem::offset_of!(sys::wd_opt, key) as i64,
        ),
        (
            "wd_opt.value offset".to_string(),
            std::mem::offset_of!(sys::wd_opt, value) as i64,
        ),
        (
            "wd_request size".to_string(),
            std::mem::size_of::<sys::wd_request>() as i64,
        ),
        (
            "wd_request.struct_size offset".to_string(),
            std::mem::offset_of!(sys::wd_request, struct_size) as i64,
        ),
        (
            "wd_request.flags offset".to_string(),
            std::mem::offset_of!(sys::wd_request, flags) as i64,
        ),
        (
            "wd_request.id offset".to_string(),
            std::mem::offset_of!(sys::wd_request, id) as i64,
        ),
        (
            "wd_request.method offset".to_string(),
            std::mem::offset_of!(sys::wd_request, method) as i64,
        ),
        (
            "wd_request.uri offset".to_string(),
            std::mem::offset_of!(sys::wd_request, uri) as i64,
        ),
        (
            "wd_request.script_name offset".to_string(),
            std::mem::offset_of!(sys::wd_request, script_name) as i64,
        ),
        (
            "wd_request.path_info offset".to_string(),
            std::mem::offset_of!(sys::wd_request, path_info) as i64,
        ),
        (
            "wd_request.query_string offset".to_string(),
            std::mem::offset_of!(sys::wd_request, query_string) as i64,
        ),
        (
            "wd_request.protocol offset".to_string(),
            std::mem::offset_of!(sys::wd_request, protocol) as i64,
        ),
        (
            "wd_request.url_scheme offset".to_string(),
            std::mem::offset_of!(sys::wd_request, url_scheme) as i64,
        ),
        (
            "wd_request.server_name offset".to_string(),
            std::mem::offset_of!(sys::wd_request, server_name) as i64,
        ),
        (
            "wd_request.server_port offset".to_string(),
            std::mem::offset_of!(sys::wd_request, server_port) as i64,
        ),
        (
            "wd_request.remote_addr offset".to_string(),
            std::mem::offset_of!(sys::wd_request, remote_addr) as i64,
        ),
        (
            "wd_request.remote_port offset".to_string(),
            std::mem::offset_of!(sys::wd_request, remote_port) as i64,
        ),
        (
            "wd_request.remote_host offset".to_string(),
            std::mem::offset_of!(sys::wd_request, remote_host) as i64,
        ),
        (
            "wd_request.content_type offset".to_string(),
            std::mem::offset_of!(sys::wd_request, content_type) as i64,
        ),
        (
            "wd_request.headers offset".to_string(),
            std::mem::offset_of!(sys::wd_request, headers) as i64,
        ),
        (
            "wd_request.n_headers offset".to_string(),
            std::mem::offset_of!(sys::wd_request, n_headers) as i64,
        ),
        (
            "wd_request.content_length offset".to_string(),
            std::mem::offset_of!(sys::wd_request, content_length) as i64,
        ),
        (
            "wd_host size".to_string(),
            std::mem::size_of::<sys::wd_host>() as i64,
        ),
        (
            "wd_host.struct_size offset".to_string(),
            std::mem::offset_of!(sys::wd_host, struct_size) as i64,
        ),
        (
            "wd_host.abi_major offset".to_string(),
            std::mem::offset_of!(sys::wd_host, abi_major) as i64,
        ),
        (
            "wd_host.abi_minor offset".to_string(),
            std::mem::offset_of!(sys::wd_host, abi_minor) as i64,
        ),
        (
            "wd_host.server_software offset".to_string(),
            std::mem::offset_of!(sys::wd_host, server_software) as i64,
        ),
        (
            "wd_host.worker_index offset".to_string(),
            std::mem::offset_of!(sys::wd_host, worker_index) as i64,
        ),
        (
            "wd_host.n_threads offset".to_string(),
            std::mem::offset_of!(sys::wd_host, n_threads) as i64,
        ),
        (
            "wd_host.log offset".to_string(),
            std::mem::offset_of!(sys::wd_host, log) as i64,
        ),
        (
            "wd_host.log_enabled offset".to_string(),
            std::mem::offset_of!(sys::wd_host, log_enabled) as i64,
        ),
        (
            "wd_host.get_var offset".to_string(),
            std::mem::offset_of!(sys::wd_host, get_var) as i64,
        ),
        (
            "wd_host.read offset".to_string(),
            std::mem::offset_of!(sys::wd_host, read) as i64,
        ),
        (
            "wd_host.start offset".to_string(),
            std::mem::offset_of!(sys::wd_host, start) as i64,
        ),
        (
            "wd_host.write offset".to_string(),
            std::mem::offset_of!(sys::wd_host, write) as i64,
        ),
        (
            "wd_host.send_file offset".to_string(),
            std::mem::offset_of!(sys::wd_host, send_file) as i64,
        ),
        (
            "wd_host.headers_sent offset".to_string(),
            std::mem::offset_of!(sys::wd_host, headers_sent) as i64,
        ),
        (
            "wd_host.is_disconnected offset".to_string(),
            std::mem::offset_of!(sys::wd_host, is_disconnected) as i64,
        ),
        (
            "wd_host.set_error offset".to_string(),
            std::mem::offset_of!(sys::wd_host, set_error) as i64,
        ),
        (
            "wd_app size".to_string(),
            std::mem::size_of::<sys::wd_app>() as i64,
        ),
        (
            "wd_app.struct_size offset".to_string(),
            std::mem::offset_of!(sys::wd_app, struct_size) as i64,
        ),
        (
            "wd_app.abi_major offset".to_string(),
            std::mem::offset_of!(sys::wd_app, abi_major) as i64,
        ),
        (
            "wd_app.abi_minor offset".to_string(),
            std::mem::offset_of!(sys::wd_app, abi_minor) as i64,
        ),
        (
            "wd_app.min_host_minor offset".to_string(),
            std::mem::offset_of!(sys::wd_app, min_host_minor) as i64,
        ),
        (
            "wd_app.reserved offset".to_string(),
            std::mem::offset_of!(sys::wd_app, reserved) as i64,
        ),
        (
            "wd_app.name offset".to_string(),
            std::mem::offset_of!(sys::wd_app, name) as i64,
        ),
        (
            "wd_app.version offset".to_string(),
            std::mem::offset_of!(sys::wd_app, version) as i64,
        ),
        (
            "wd_app.init offset".to_string(),
            std::mem::offset_of!(sys::wd_app, init) as i64,
        ),
        (
            "wd_app.thread_init offset".to_string(),
            std::mem::offset_of!(sys::wd_app, thread_init) as i64,
        ),
        (
            "wd_app.handle offset".to_string(),
            std::mem::offset_of!(sys::wd_app, handle) as i64,
        ),
        (
            "wd_app.thread_exit offset".to_string(),
            std::mem::offset_of!(sys::wd_app, thread_exit) as i64,
        ),
        (
            "wd_app.shutdown offset".to_string(),
            std::mem::offset_of!(sys::wd_app, shutdown) as i64,
        ),
        ("WD_ABI_MAJOR".to_string(), sys::WD_ABI_MAJOR as i64),
        ("WD_ABI_MINOR".to_string(), sys::WD_ABI_MINOR as i64),
        ("WD_OK".to_string(), sys::WD_OK as i64),
        ("WD_ERR".to_string(), sys::WD_ERR as i64),
        ("WD_E_INVALID".to_string(), sys::WD_E_INVALID as i64),
        ("WD_E_STATE".to_string(), sys::WD_E_STATE as i64),
        ("WD_E_COMMITTED".to_string(), sys::WD_E_COMMITTED as i64),
        (
            "WD_E_DISCONNECTED".to_string(),
            sys::WD_E_DISCONNECTED as i64,
        ),
        ("WD_E_LENGTH".to_string(), sys::WD_E_LENGTH as i64),
        ("WD_E_UNSUPPORTED".to_string(), sys::WD_E_UNSUPPORTED as i64),
        ("WD_E_NOTFOUND".to_string(), sys::WD_E_NOTFOUND as i64),
        ("WD_E_IO".to_string(), sys::WD_E_IO as i64),
        ("WD_E_FATAL".to_string(), sys::WD_E_FATAL as i64),
        ("WD_LOG_DEBUG".to_string(), sys::WD_LOG_DEBUG as i64),
        ("WD_LOG_INFO".to_string(), sys::WD_LOG_INFO as i64),
        ("WD_LOG_WARN".to_string(), sys::WD_LOG_WARN as i64),
        ("WD_LOG_ERROR".to_string(), sys::WD_LOG_ERROR as i64),
        ("WD_LOG_CRITICAL".to_string(), sys::WD_LOG_CRITICAL as i64),
        ("WD_REQ_HEAD".to_string(), sys::WD_REQ_HEAD as i64),
        ("WD_REQ_KEEPALIVE".to_string(), sys::WD_REQ_KEEPALIVE as i64),
        (
            "WD_REQ_CHUNKED_IN".to_string(),
            sys::WD_REQ_CHUNKED_IN as i64,
        ),
        ("WD_START_REPLACE".to_string(), sys::WD_START_REPLACE as i64),
        ("WD_WRITE_FINAL".to_string(), sys::WD_WRITE_FINAL as i64),
        ("WD_FILE_LAST".to_string(), sys::WD_FILE_LAST as i64),
    ]
}

const C_PROGRAM: &str = "#include <stdio.h>\n#include <stddef.h>\n#include \"waitressd_app.h\"\nint main(void) {\n    printf(\"wd_str size %zu\\n\", sizeof(wd_str));\n    printf(\"wd_str.ptr offset %zu\\n\", offsetof(wd_str, ptr));\n    printf(\"wd_str.len offset %zu\\n\", offsetof(wd_str, len));\n    printf(\"wd_header size %zu\\n\", sizeof(wd_header));\n    printf(\"wd_header.name offset %zu\\n\", offsetof(wd_header, name));\n    printf(\"wd_header.value offset %zu\\n\", offsetof(wd_header, value));\n    printf(\"wd_opt size %zu\\n\", sizeof(wd_opt));\n    printf(\"wd_opt.key offset %zu\\n\", offsetof(wd_opt, key));\n    printf(\"wd_opt.value offset %zu\\n\", offsetof(wd_opt, value));\n    printf(\"wd_request size %zu\\n\", sizeof(wd_request));\n    printf(\"wd_request.struct_size offset %zu\\n\", offsetof(wd_request, struct_size));\n    printf(\"wd_request.flags offset %zu\\n\", offsetof(wd_request, flags));\n    printf(\"wd_request.id offset %zu\\n\", offsetof(wd_request, id));\n    printf(\"wd_request.method offset %zu\\n\", offsetof(wd_request, method));\n    printf(\"wd_request.uri offset %zu\\n\", offsetof(wd_request, uri));\n    printf(\"wd_request.script_name offset %zu\\n\", offsetof(wd_request, script_name));\n    printf(\"wd_request.path_info offset %zu\\n\", offsetof(wd_request, path_info));\n    printf(\"wd_request.query_string offset %zu\\n\", offsetof(wd_request, query_string));\n    printf(\"wd_request.protocol offset %zu\\n\", offsetof(wd_request, protocol));\n    printf(\"wd_request.url_scheme offset %zu\\n\", offsetof(wd_request, url_scheme));\n    printf(\"wd_request.server_name offset %zu\\n\", offsetof(wd_request, server_name));\n    printf(\"wd_request.server_port offset %zu\\n\", offsetof(wd_request, server_port));\n    printf(\"wd_request.remote_addr offset %zu\\n\", offsetof(wd_request, remote_addr));\n    printf(\"wd_request.remote_port offset %zu\\n\", offsetof(wd_request, remote_port));\n    printf(\"wd_request.remote_host offset %zu\\n\", offsetof(wd_request, remote_host));\n    printf(\"wd_request.content_type offset %zu\\n\", offsetof(wd_request, content_type));\n    printf(\"wd_request.headers offset %zu\\n\", offsetof(wd_request, headers));\n    printf(\"wd_request.n_headers offset %zu\\n\", offsetof(wd_request, n_headers));\n    printf(\"wd_request.content_length offset %zu\\n\", offsetof(wd_request, content_length));\n    printf(\"wd_host size %zu\\n\", sizeof(wd_host));\n    printf(\"wd_host.struct_size offset %zu\\n\", offsetof(wd_host, struct_size));\n    printf(\"wd_host.abi_major offset %zu\\n\", offsetof(wd_host, abi_major));\n    printf(\"wd_host.abi_minor offset %zu\\n\", offsetof(wd_host, abi_minor));\n    printf(\"wd_host.server_software offset %zu\\n\", offsetof(wd_host, server_software));\n    printf(\"wd_host.worker_index offset %zu\\n\", offsetof(wd_host, worker_index));\n    printf(\"wd_host.n_threads offset %zu\\n\", offsetof(wd_host, n_threads));\n    printf(\"wd_host.log offset %zu\\n\", offsetof(wd_host, log));\n    printf(\"wd_host.log_enabled offset %zu\\n\", offsetof(wd_host, log_enabled));\n    printf(\"wd_host.get_var offset %zu\\n\", offsetof(wd_host, get_var));\n    printf(\"wd_host.read offset %zu\\n\", offsetof(wd_host, read));\n    printf(\"wd_host.start offset %zu\\n\", offsetof(wd_host, start));\n    printf(\"wd_host.write offset %zu\\n\", offsetof(wd_host, write));\n    printf(\"wd_host.send_file offset %zu\\n\", offsetof(wd_host, send_file));\n    printf(\"wd_host.headers_sent offset %zu\\n\", offsetof(wd_host, headers_sent));\n    printf(\"wd_host.is_disconnected offset %zu\\n\", offsetof(wd_host, is_disconnected));\n    printf(\"wd_host.set_error offset %zu\\n\", offsetof(wd_host, set_error));\n    printf(\"wd_app size %zu\\n\", sizeof(wd_app));\n    printf(\"wd_app.struct_size offset %zu\\n\", offsetof(wd_app, struct_size));\n    printf(\"wd_app.abi_major offset %zu\\n\", offsetof(wd_app, abi_major));\n    printf(\"wd_app.abi_minor offset %zu\\n\", offsetof(wd_app, abi_minor));\n    printf(\"wd_app.min_host_minor offset %zu\\n\", offsetof(wd_app, min_host_minor));\n    printf(\"wd_app.reserved offset %zu\\n\", offsetof(wd_app, reserved));\n    printf(\"wd_app.name offset %zu\\n\", offsetof(wd_app, name));\n    printf(\"wd_app.version offset %zu\\n\", offsetof(wd_app, version));\n    printf(\"wd_app.init offset %zu\\n\", offsetof(wd_app, init));\n    printf(\"wd_app.thread_init offset %zu\\n\", offsetof(wd_app, thread_init));\n    printf(\"wd_app.handle offset %zu\\n\", offsetof(wd_app, handle));\n    printf(\"wd_app.thread_exit offset %zu\\n\", offsetof(wd_app, thread_exit));\n    printf(\"wd_app.shutdown offset %zu\\n\", offsetof(wd_app, shutdown));\n    printf(\"WD_ABI_MAJOR %lld\\n\", (long long)(WD_ABI_MAJOR));\n    printf(\"WD_ABI_MINOR %lld\\n\", (long long)(WD_ABI_MINOR));\n    printf(\"WD_OK %lld\\n\", (long long)(WD_OK));\n    printf(\"WD_ERR %lld\\n\", (long long)(WD_ERR));\n    printf(\"WD_E_INVALID %lld\\n\", (long long)(WD_E_INVALID));\n    printf(\"WD_E_STATE %lld\\n\", (long long)(WD_E_STATE));\n    printf(\"WD_E_COMMITTED %lld\\n\", (long long)(WD_E_COMMITTED));\n    printf(\"WD_E_DISCONNECTED %lld\\n\", (long long)(WD_E_DISCONNECTED));\n    printf(\"WD_E_LENGTH %lld\\n\", (long long)(WD_E_LENGTH));\n    printf(\"WD_E_UNSUPPORTED %lld\\n\", (long long)(WD_E_UNSUPPORTED));\n    printf(\"WD_E_NOTFOUND %lld\\n\", (long long)(WD_E_NOTFOUND));\n    printf(\"WD_E_IO %lld\\n\", (long long)(WD_E_IO));\n    printf(\"WD_E_FATAL %lld\\n\", (long long)(WD_E_FATAL));\n    printf(\"WD_LOG_DEBUG %lld\\n\", (long long)(WD_LOG_DEBUG));\n    printf(\"WD_LOG_INFO %lld\\n\", (long long)(WD_LOG_INFO));\n    printf(\"WD_LOG_WARN %lld\\n\", (long long)(WD_LOG_WARN));\n    printf(\"WD_LOG_ERROR %lld\\n\", (long long)(WD_LOG_ERROR));\n    printf(\"WD_LOG_CRITICAL %lld\\n\", (long long)(WD_LOG_CRITICAL));\n    printf(\"WD_REQ_HEAD %lld\\n\", (long long)(WD_REQ_HEAD));\n    printf(\"WD_REQ_KEEPALIVE %lld\\n\", (long long)(WD_REQ_KEEPALIVE));\n    printf(\"WD_REQ_CHUNKED_IN %lld\\n\", (long long)(WD_REQ_CHUNKED_IN));\n    printf(\"WD_START_REPLACE %lld\\n\", (long long)(WD_START_REPLACE));\n    printf(\"WD_WRITE_FINAL %lld\\n\", (long long)(WD_WRITE_FINAL));\n    printf(\"WD_FILE_LAST %lld\\n\", (long long)(WD_FILE_LAST));\n    return 0;\n}\n";

#[test]
fn header_and_rust_mirror_agree_on_every_size_offset_and_constant() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("layout.c");
    let exe = dir.path().join("layout");
    std::fs::write(&src, C_PROGRAM).unwrap();
    let include = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let status = Command::new("cc")
        .arg("-I")
        .arg(&include)
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success(), "the layout program must compile");
    let out = Command::new(&exe).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let c: Vec<(String, i64)> = text
        .lines()
        .map(|l| {
            let (what, value) = l.rsplit_once(' ').unwrap();
            (what.to_string(), value.parse().unwrap())
        })
        .collect();
    let rust = rust_layout();
    assert_eq!(c.len(), rust.len());
    for (c_item, r_item) in c.iter().zip(&rust) {
        assert_eq!(c_item, r_item, "C says {c_item:?}, Rust says {r_item:?}");
    }
}
