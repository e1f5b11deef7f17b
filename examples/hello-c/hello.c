/* hello.c -- the smallest waitressd app in C.
 *
 *   cc -shared -fPIC -O2 -I../../include -o libhello_c.so hello.c
 *   waitressd --listen 127.0.0.1:8080 ./libhello_c.so
 *
 * Every request gets "Hello, world!\n". The host table passed to the entry point
 * (and to init) stays valid for the life of the process, so keeping a pointer is
 * fine. handle() runs on several app threads at once: keep shared state read-only
 * or lock it. */
#include "waitressd_app.h"

static const wd_host *host;

#define STR(s) ((wd_str){(s), sizeof(s) - 1})

static int hello_init(const wd_host *h, const wd_opt *opts, size_t n_opts, void **app) {
    (void)opts;
    (void)n_opts;
    host = h;
    *app = NULL; /* no per-app state */
    host->log(NULL, WD_LOG_INFO, STR("hello-c ready"));
    return 0;
}

static int hello_handle(void *app, void *thread, const wd_request *req) {
    static const char body[] = "Hello, world!\n";
    (void)app;
    (void)thread;
    wd_header headers[] = {
        {STR("Content-Type"), STR("text/plain")},
    };
    if (host->start(req, 200, STR("OK"), headers, 1, 0) != WD_OK)
        return WD_ERR;
    /* One final write: the server sets Content-Length from it. */
    int rc = host->write(req, body, sizeof(body) - 1, WD_WRITE_FINAL);
    return rc == WD_OK || rc == WD_E_DISCONNECTED ? WD_OK : WD_ERR;
}

static const wd_app hello_app = {
    .struct_size = sizeof(wd_app),
    .abi_major = WD_ABI_MAJOR,
    .abi_minor = WD_ABI_MINOR,
    .min_host_minor = 0,
    .name = "hello-c",
    .version = "1.0",
    .init = hello_init,
    .handle = hello_handle,
};

const wd_app *waitressd_app_v1(const wd_host *h) {
    (void)h;
    return &hello_app;
}
