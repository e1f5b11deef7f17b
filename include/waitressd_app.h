/* waitressd_app.h -- the ABI between waitressd (the host) and an app.so.
 *
 * "WSGI for native code". This header is the specification; its comments are the
 * contract. The Rust mirror lives in sdk/rust/src/sys.rs and a test keeps the two
 * layouts identical.
 *
 * Ground rules
 *  - Plain C ABI. No function on either side may unwind: C++ exceptions and Rust panics
 *    must be caught before they reach the boundary (the Rust SDK does this for you).
 *  - No ownership crosses the boundary. Whatever the app passes to the host (headers,
 *    body bytes, error details) is copied before the host function returns. Whatever
 *    the host passes to the app (the request view, option strings) is borrowed and valid
 *    only as documented below. Nothing allocated on one side is freed on the other.
 *  - Structs start with `struct_size` and are append-only: a newer minor version only
 *    adds fields at the end, functions at the end of the vtable, and new flag bits.
 *  - Strings are byte strings with a length (wd_str), not NUL-terminated; for WSGI
 *    bridges they are latin-1 as received on the wire.
 *
 * Lifecycle (one worker process; the master process never loads app.so)
 *   waitressd_app_v1(host)        once, right after dlopen: return the descriptor
 *   app->init(host, opts, &app)   once, on the worker's main thread, before any request
 *   app->thread_init(app, i, &t)  on each app thread, before its first request
 *   app->handle(app, t, req)      one request, on an app thread; many run concurrently
 *   app->thread_exit(app, t)      on each app thread when the worker stops
 *   app->shutdown(app)            once, after every app thread has exited
 * The host never dlcloses the app (thread-local destructors would run into unmapped
 * code) and leaves the process with _exit() after shutdown(). Apps must not fork()
 * without exec (subprocess/posix_spawn are fine): the worker is multi-threaded.
 *
 * Why these choices differ from ../shared/design/app-abi.md, where they do:
 *  - write() takes a flags argument so a write can be marked final (WD_WRITE_FINAL):
 *    with headers still staged and no Content-Length, the host derives the length from
 *    that one write. A one-shot response then keeps the connection alive without
 *    chunked framing, which is what Waitress does for a one-item iterable.
 *  - set_error() lets an app attach a failure detail (a panic message, an exception
 *    text) to a request it is about to fail; the host logs it and shows it in the 500
 *    body only when expose_tracebacks is on.
 *  - content_length is always known: v1 hosts read the whole body (memory, then an
 *    unlinked temp file) before handle() is called, and de-chunk chunked bodies.
 *  - Header names are given lower-cased; headers whose name contains '_' are dropped
 *    by the host, as Waitress does, so "X_Forwarded_For" cannot spoof
 *    HTTP_X_FORWARDED_FOR in a CGI-style environment.
 */
#ifndef WAITRESSD_APP_H
#define WAITRESSD_APP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* ssize_t */

#ifdef __cplusplus
extern "C" {
#endif

#define WD_ABI_MAJOR 1 /* a breaking change gets a new entry symbol (waitressd_app_v2) */
#define WD_ABI_MINOR 0 /* additive: new fields, functions and flag bits only */

/* Result codes: >= 0 success, < 0 failure. */
#define WD_OK 0
#define WD_ERR (-1)          /* from handle(): failed; 500 if nothing was sent, else abort */
#define WD_E_INVALID (-2)    /* bad argument: status, CR/LF in a header, hop-by-hop header */
#define WD_E_STATE (-3)      /* wrong call order, or the request is no longer live */
#define WD_E_COMMITTED (-4)  /* headers already sent: start() can no longer replace them */
#define WD_E_DISCONNECTED (-5) /* the client is gone: stop producing, clean up, return */
#define WD_E_LENGTH (-6)     /* bytes beyond the declared Content-Length were dropped */
#define WD_E_UNSUPPORTED (-7) /* an optional feature this host does not offer */
#define WD_E_NOTFOUND (-8)   /* get_var(): no such variable */
#define WD_E_IO (-9)         /* send_file(): the file could not be duplicated or read */
#define WD_E_FATAL (-99)     /* from handle(): app state is broken; recycle this worker */

/* Log levels for host->log. The server's logger (the `log` crate) has no level above
 * ERROR, so WD_LOG_CRITICAL is written at ERROR; any other value also means ERROR. */
enum wd_log_level {
    WD_LOG_DEBUG = 0,
    WD_LOG_INFO = 1,
    WD_LOG_WARN = 2,
    WD_LOG_ERROR = 3,
    WD_LOG_CRITICAL = 4
};

typedef struct wd_str {
    const char *ptr; /* may be NULL when len == 0 */
    size_t len;
} wd_str;

typedef struct wd_header {
    wd_str name;
    wd_str value;
} wd_header;

typedef struct wd_opt { /* one --app-opt KEY=VALUE */
    wd_str key;
    wd_str value;
} wd_opt;

/* A borrowed, read-only view of one request, valid until handle() returns. The pointer
 * is also the handle the app passes back to the host's request functions.
 * Field                      WSGI / CGI name */
typedef struct wd_request {
    uint32_t struct_size;
    uint32_t flags;          /* WD_REQ_* */
    uint64_t id;             /* unique within the worker, for log correlation */
    wd_str method;           /* REQUEST_METHOD */
    wd_str uri;              /* REQUEST_URI: the raw request-target */
    wd_str script_name;      /* SCRIPT_NAME: url_prefix, or "" */
    wd_str path_info;        /* PATH_INFO: percent-decoded path after script_name */
    wd_str query_string;     /* QUERY_STRING: undecoded, without '?' */
    wd_str protocol;         /* SERVER_PROTOCOL: "HTTP/1.0" | "HTTP/1.1" */
    wd_str url_scheme;       /* wsgi.url_scheme: "http" | "https" */
    wd_str server_name;      /* SERVER_NAME */
    wd_str server_port;      /* SERVER_PORT */
    wd_str remote_addr;      /* REMOTE_ADDR ("localhost" style names for unix sockets) */
    wd_str remote_port;      /* REMOTE_PORT ("" for unix sockets) */
    wd_str remote_host;      /* REMOTE_HOST (same as remote_addr: no reverse DNS) */
    wd_str content_type;     /* CONTENT_TYPE, "" when absent */
    const wd_header *headers; /* arrival order, duplicates kept, names lower-case */
    size_t n_headers;
    int64_t content_length;  /* CONTENT_LENGTH: body bytes read() will return */
} wd_request;

#define WD_REQ_HEAD (1u << 0)       /* HEAD: body bytes are counted, never sent */
#define WD_REQ_KEEPALIVE (1u << 1)  /* the connection would be reused after this */
#define WD_REQ_CHUNKED_IN (1u << 2) /* the body arrived chunked (already de-chunked) */

/* Host services. Functions taking a request may be called from any thread while
 * handle() for that request runs; calls for one request must not overlap.
 * Never call them from a signal handler. */
typedef struct wd_host {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;
    wd_str server_software; /* "waitressd/x.y.z" */
    uint32_t worker_index;  /* 0-based slot of this worker */
    uint32_t n_threads;     /* size of this worker's app thread pool */

    /* Log one message through the server's logger (req may be NULL). */
    void (*log)(const wd_request *req, int level, wd_str msg);
    /* 1 when messages at `level` would be written: skip formatting otherwise. */
    int (*log_enabled)(int level);
    /* Extra environment variables by name (e.g. "REMOTE_PORT", "SERVER_SOFTWARE",
     * "REQUEST_ID", "waitress.client_disconnected"). *out is borrowed like req.
     * WD_OK, or WD_E_NOTFOUND. */
    int (*get_var)(const wd_request *req, wd_str name, wd_str *out);

    /* Body: > 0 bytes read, 0 at the end of the body (and every call after it),
     * < 0 a WD_E_* code. Never blocks on the network in v1. */
    ssize_t (*read)(const wd_request *req, void *buf, size_t cap);

    /* Stage the status line and headers (copied); nothing is sent yet. reason may be
     * empty: the host then uses the standard phrase. A second call needs
     * WD_START_REPLACE (WSGI exc_info) and fails with WD_E_COMMITTED once the headers
     * went out. Rejected with WD_E_INVALID: a status outside 100..999; CR, LF or NUL
     * in the reason or a value; a name that is empty or not an RFC 9110 token; a
     * Content-Length that is not all digits, or two that differ (an identical
     * duplicate is kept once); a hop-by-hop header, which the host owns because it
     * frames the connection: Connection, Keep-Alive, Proxy-Authenticate,
     * Proxy-Authorization, TE, Trailer, Trailers, Transfer-Encoding, Upgrade
     * (compared case-insensitively; the Rust SDK's sys::HOP_BY_HOP_HEADERS is this
     * list). Values are trimmed of surrounding spaces and tabs; names are sent in
     * Capitalized-Dash-Form, as Waitress does. */
    int (*start)(const wd_request *req, uint16_t status, wd_str reason,
                 const wd_header *headers, size_t n_headers, uint32_t flags);

    /* Queue body bytes (copied). The first non-empty write commits the headers.
     * Blocks while this connection's queued output is at outbuf_high_watermark.
     * WD_WRITE_FINAL: this is the last write; if the headers are still staged and
     * carry no Content-Length, the host sets it to len. Returns WD_OK,
     * WD_E_STATE (no start yet), WD_E_LENGTH (excess over Content-Length dropped),
     * WD_E_DISCONNECTED. */
    int (*write)(const wd_request *req, const void *data, size_t len, uint32_t flags);

    /* Queue a region of a regular file; the I/O thread sends it with sendfile(2).
     * The host dup()s fd and uses explicit offsets: the caller keeps its fd and its
     * file offset. len < 0 means "to the end of the file". WD_FILE_LAST plays the
     * role of WD_WRITE_FINAL: with the headers still staged the region is the whole
     * body, so a declared Content-Length shorter than the region is honoured (only
     * that many bytes are sent) and a longer one is replaced by the region's length,
     * as Waitress's file wrapper does; without one the region's length is used.
     * Returns WD_OK;
     * WD_E_INVALID for fd < 0, offset < 0, or a region past the end of the file;
     * WD_E_IO when fd cannot be duplicated or stat'ed; WD_E_STATE (no start yet);
     * WD_E_LENGTH; WD_E_DISCONNECTED. */
    int (*send_file)(const wd_request *req, int fd, int64_t offset, int64_t len,
                     uint32_t flags);

    int (*headers_sent)(const wd_request *req);    /* 1 once committed, else 0 */
    /* 1 once the client closed its sending side (read EOF, as Waitress's
     * client_disconnected), reset the connection, or a write to it failed. After a
     * mere EOF, writes still go out (the client may have only half-closed); after a
     * reset or failed write they return WD_E_DISCONNECTED. Poll it in long-running
     * or streaming handlers. */
    int (*is_disconnected)(const wd_request *req);

    /* Attach a failure detail (copied; the last call wins) to a request the app is
     * about to fail. Logged at ERROR; shown in the 500 body only with
     * expose_tracebacks. */
    void (*set_error)(const wd_request *req, wd_str detail);
} wd_host;

#define WD_START_REPLACE (1u << 0) /* start(): replace staged headers (exc_info) */
#define WD_WRITE_FINAL (1u << 0)   /* write(): the last body write */
#define WD_FILE_LAST (1u << 0)     /* send_file(): the last body segment */

/* The app's descriptor: static storage, returned by the entry symbol.
 * NULL optional hooks are skipped. */
typedef struct wd_app {
    uint32_t struct_size;
    uint16_t abi_major; /* the header version the app was built with */
    uint16_t abi_minor;
    uint16_t min_host_minor; /* the host refuses to load the app if its minor is lower */
    uint16_t reserved; /* set to 0: a later minor version may give it a meaning */
    const char *name;    /* NUL-terminated, for logs; may be NULL */
    const char *version; /* NUL-terminated, for logs; may be NULL */

    /* Required. Once per worker, after fork, on its main thread, before any app
     * thread starts. *app receives the app's state. Non-zero: the worker exits with
     * a boot failure (call host->log first to say why). */
    int (*init)(const wd_host *host, const wd_opt *opts, size_t n_opts, void **app);
    /* Optional: on each app thread before its first request. */
    int (*thread_init)(void *app, uint32_t thread_index, void **thread);
    /* Required. One request on an app thread; return when the response is complete:
     * WD_OK, WD_ERR, or WD_E_FATAL. */
    int (*handle)(void *app, void *thread, const wd_request *req);
    /* Optional: on that app thread when the worker stops after a drain. Keep it short:
     * the worker waits 200 ms for its threads after the drain. */
    void (*thread_exit)(void *app, void *thread);
    /* Optional: after every app thread has exited. Skipped when a thread is still
     * inside handle() (stuck past the graceful timeout) and on an immediate stop
     * (QUIT, or the master died), where the process exits under the app. */
    void (*shutdown)(void *app);
} wd_app;

/* The one exported symbol. Cheap and free of side effects: return the descriptor (or
 * NULL to refuse, after saying why through host->log). init() does the real work. */
#define WD_ENTRY_SYMBOL "waitressd_app_v1"
typedef const wd_app *(*wd_entry_fn)(const wd_host *host);
const wd_app *waitressd_app_v1(const wd_host *host);

#ifdef __cplusplus
}
#endif
#endif /* WAITRESSD_APP_H */
