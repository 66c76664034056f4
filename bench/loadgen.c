/*
 * loadgen: a small HTTP/1.1-over-mTLS load generator for bench/run.py.
 *
 * One thread, one epoll loop, non-blocking OpenSSL: cheap enough that on a 2-core machine it
 * can share the box with the server under test. Every connection presents the client
 * certificate chain and verifies the server against the root CA. Nothing is resumed: no
 * session cache and no tickets are used, so every new connection is a full handshake.
 *
 * Modes:
 *   keepalive  N connections, each POSTs the body again as soon as the answer arrived
 *   handshake  N concurrent slots, each request on a new connection ("Connection: close")
 *   idle       N connections, one request each, then held open until stdin closes
 *
 * Output: one JSON object on stdout (idle mode first prints "ready ..." and waits for stdin).
 * Latency is measured from the first byte written (keepalive) or from connect() (handshake)
 * to the last byte of the answer, in microseconds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { KEEPALIVE, HANDSHAKE, IDLE };
enum state { CONNECTING, TLS, WRITING, READING, HELD, CLOSED };

struct conn {
    int fd;
    SSL *ssl;
    enum state st;
    size_t wpos;
    char *rbuf;
    size_t rlen, rcap;
    uint64_t t0;
    int answered;
};

static struct {
    enum mode mode;
    const char *host, *path, *cert, *key, *ca, *body_file, *content_type;
    int port, conns;
    double duration, warmup, grace;
    long expect_len;
} opt = {KEEPALIVE, "127.0.0.1", "/", NULL, NULL, NULL, NULL, "application/json", 0, 64, 10, 0, 10, -1};

static struct {
    uint64_t sent, ok, non2xx, badlen, errors, closed_by_server, reconnects;
    uint64_t n_lat, cap_lat;
    uint32_t *lat;
    char first_error[256];
    int first_status_bad;
    char protocol[32], cipher[64];
} st;

static SSL_CTX *ctx;
static int ep;
static char *request;
static size_t request_len;
static struct sockaddr_in addr;
static uint64_t t_start, t_measure, t_stop;
static int stopping;

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void note_error(const char *what) {
    st.errors++;
    if (!st.first_error[0]) {
        unsigned long e = ERR_peek_last_error();
        char ssl_err[160] = "";
        if (e) ERR_error_string_n(e, ssl_err, sizeof ssl_err);
        snprintf(st.first_error, sizeof st.first_error, "%s%s%s%s%s", what, errno ? ": " : "",
                 errno ? strerror(errno) : "", ssl_err[0] ? " / " : "", ssl_err);
    }
    ERR_clear_error();
}

static void record_latency(uint64_t us) {
    if (st.n_lat == st.cap_lat) {
        st.cap_lat = st.cap_lat ? st.cap_lat * 2 : 1 << 16;
        st.lat = realloc(st.lat, st.cap_lat * sizeof *st.lat);
        if (!st.lat) { perror("realloc"); exit(2); }
    }
    st.lat[st.n_lat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void want(struct conn *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_close(struct conn *c) {
    if (c->ssl) { SSL_free(c->ssl); c->ssl = NULL; }
    if (c->fd >= 0) { close(c->fd); c->fd = -1; }
    c->st = CLOSED;
}

static int conn_open(struct conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) { note_error("socket"); return -1; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->rlen = 0;
    c->wpos = 0;
    c->answered = 0;
    c->t0 = now_us();
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    SSL_set_connect_state(c->ssl);
    c->st = CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        note_error("connect");
        conn_close(c);
        return -1;
    }
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

/* Returns 1 when a whole answer is in rbuf, 0 when more is needed, -1 when it is malformed;
 * *eof* says the server closed the connection (which ends a body without length).
 * Sets *status, *body_len, *close_after. */
static int parse_answer(struct conn *c, int eof, int *status, long *body_len, int *close_after) {
    char *buf = c->rbuf;
    size_t len = c->rlen;
    char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return len > 65536 ? -1 : 0;
    size_t head = (size_t)(end - buf) + 4;
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(buf + 9);
    long clen = -1;
    int chunked = 0;
    *close_after = strncmp(buf, "HTTP/1.0", 8) == 0;
    for (char *line = memchr(buf, '\n', head) + 1; line < buf + head - 2;) {
        char *eol = memchr(line, '\n', (size_t)(buf + head - line));
        if (!eol) break;
        if (!strncasecmp(line, "content-length:", 15)) clen = strtol(line + 15, NULL, 10);
        else if (!strncasecmp(line, "transfer-encoding:", 18) && memmem(line, (size_t)(eol - line), "chunked", 7))
            chunked = 1;
        else if (!strncasecmp(line, "connection:", 11)) {
            if (memmem(line, (size_t)(eol - line), "close", 5)) *close_after = 1;
            else if (strcasestr(line, "keep-alive")) *close_after = 0;
        }
        line = eol + 1;
    }
    if (chunked) {
        size_t pos = head;
        long total = 0;
        for (;;) {
            char *crlf = memmem(buf + pos, len - pos, "\r\n", 2);
            if (!crlf) return 0;
            long size = strtol(buf + pos, NULL, 16);
            pos = (size_t)(crlf - buf) + 2;
            if (size == 0) {
                /* no trailers expected: the final CRLF */
                if (len < pos + 2) return 0;
                *body_len = total;
                return 1;
            }
            if (len < pos + (size_t)size + 2) return 0;
            pos += (size_t)size + 2;
            total += size;
        }
    }
    if (clen < 0) {
        if (*status == 204 || *status == 304) { *body_len = 0; return 1; }
        if (!*close_after) return -1; /* neither length, chunks nor close: cannot tell where it ends */
        if (!eof) return 0;           /* the body runs to the end of the connection */
        *body_len = (long)(len - head);
        return 1;
    }
    if (len < head + (size_t)clen) return 0;
    *body_len = clen;
    return 1;
}

static void start_request(struct conn *c) {
    c->st = WRITING;
    c->wpos = 0;
    c->rlen = 0;
    if (opt.mode != HANDSHAKE) c->t0 = now_us();
    st.sent++;
    want(c, EPOLLOUT);
}

static void next_or_stop(struct conn *c, int close_after) {
    if (opt.mode == IDLE) {
        c->st = HELD;
        want(c, EPOLLIN);
        return;
    }
    if (stopping) { conn_close(c); return; }
    if (opt.mode == HANDSHAKE || close_after) {
        if (opt.mode == KEEPALIVE) st.reconnects++;
        conn_close(c);
        conn_open(c);
        return;
    }
    start_request(c);
}

static void fail(struct conn *c, const char *what) {
    note_error(what);
    conn_close(c);
    if (!stopping && opt.mode != IDLE) conn_open(c);
}

static void on_event(struct conn *c, uint32_t events) {
    int r, err, eof;
    switch (c->st) {
    case CONNECTING: {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) { errno = soerr; fail(c, "connect"); return; }
        c->st = TLS;
    } /* fall through */
    case TLS:
        r = SSL_do_handshake(c->ssl);
        if (r == 1) {
            if (!st.protocol[0]) {
                snprintf(st.protocol, sizeof st.protocol, "%s", SSL_get_version(c->ssl));
                snprintf(st.cipher, sizeof st.cipher, "%s", SSL_get_cipher_name(c->ssl));
            }
            start_request(c);
            return;
        }
        err = SSL_get_error(c->ssl, r);
        if (err == SSL_ERROR_WANT_READ) { want(c, EPOLLIN); return; }
        if (err == SSL_ERROR_WANT_WRITE) { want(c, EPOLLOUT); return; }
        errno = 0;
        fail(c, "TLS handshake");
        return;
    case WRITING:
        r = SSL_write(c->ssl, request + c->wpos, (int)(request_len - c->wpos));
        if (r > 0) {
            c->wpos += (size_t)r;
            if (c->wpos == request_len) { c->st = READING; want(c, EPOLLIN); }
            return;
        }
        err = SSL_get_error(c->ssl, r);
        if (err == SSL_ERROR_WANT_READ) { want(c, EPOLLIN); return; }
        if (err == SSL_ERROR_WANT_WRITE) { want(c, EPOLLOUT); return; }
        errno = 0;
        fail(c, "write");
        return;
    case READING:
    case HELD:
        eof = 0;
        for (;;) {
            if (c->rcap - c->rlen < 16384) {
                c->rcap = c->rcap ? c->rcap * 2 : 32768;
                c->rbuf = realloc(c->rbuf, c->rcap);
            }
            r = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(c->rcap - c->rlen));
            if (r > 0) { c->rlen += (size_t)r; continue; }
            err = SSL_get_error(c->ssl, r);
            if (err == SSL_ERROR_WANT_READ) break;
            if (err == SSL_ERROR_WANT_WRITE) { want(c, EPOLLOUT | EPOLLIN); return; }
            if (c->st == HELD) { st.closed_by_server++; conn_close(c); return; }
            eof = err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL ? 1 : 2;
            break;
        }
        if (c->st == HELD) { c->rlen = 0; return; }
        int status = 0, close_after = 0;
        long body_len = 0;
        int done = parse_answer(c, eof, &status, &body_len, &close_after);
        if (done == 0 && eof) {
            errno = 0;
            fail(c, eof == 1 ? "server closed the connection before answering" : "read");
            return;
        }
        if (done == 0) return;
        if (eof) close_after = 1;
        if (done < 0) { errno = 0; fail(c, "malformed HTTP answer"); return; }
        uint64_t t = now_us();
        if (t >= t_measure) {
            if (status < 200 || status > 299) {
                st.non2xx++;
                if (!st.first_status_bad) st.first_status_bad = status;
            } else if (opt.expect_len >= 0 && body_len != opt.expect_len) st.badlen++;
            else st.ok++;
            record_latency(t - c->t0);
        } else {
            st.sent--; /* a warm-up request: not counted */
        }
        c->answered = 1;
        next_or_stop(c, close_after);
        return;
    case CLOSED:
        return;
    }
    (void)events;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p) {
    if (!st.n_lat) return 0;
    size_t i = (size_t)(p / 100.0 * (double)(st.n_lat - 1) + 0.5);
    return st.lat[i];
}

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen --mode keepalive|handshake|idle --port P --cert CHAIN.pem --key KEY.pem --ca CA.pem\n"
            "               --body FILE [--host 127.0.0.1] [--path /] [--connections 64] [--duration 10]\n"
            "               [--warmup 0] [--grace 10] [--expect-len N] [--content-type application/json]\n");
    exit(2);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) { perror(path); exit(2); }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        i++;
        if (!strcmp(a, "--mode")) opt.mode = !strcmp(v, "keepalive") ? KEEPALIVE : !strcmp(v, "handshake") ? HANDSHAKE
                                         : !strcmp(v, "idle") ? IDLE : (usage(), KEEPALIVE);
        else if (!strcmp(a, "--host")) opt.host = v;
        else if (!strcmp(a, "--port")) opt.port = atoi(v);
        else if (!strcmp(a, "--path")) opt.path = v;
        else if (!strcmp(a, "--cert")) opt.cert = v;
        else if (!strcmp(a, "--key")) opt.key = v;
        else if (!strcmp(a, "--ca")) opt.ca = v;
        else if (!strcmp(a, "--body")) opt.body_file = v;
        else if (!strcmp(a, "--connections")) opt.conns = atoi(v);
        else if (!strcmp(a, "--duration")) opt.duration = atof(v);
        else if (!strcmp(a, "--warmup")) opt.warmup = atof(v);
        else if (!strcmp(a, "--grace")) opt.grace = atof(v);
        else if (!strcmp(a, "--expect-len")) opt.expect_len = atol(v);
        else if (!strcmp(a, "--content-type")) opt.content_type = v;
        else usage();
    }
    if (!opt.port || !opt.cert || !opt.key || !opt.ca || !opt.body_file || opt.conns < 1) usage();

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    size_t body_len;
    char *body = read_file(opt.body_file, &body_len);
    request = malloc(body_len + 1024 + strlen(opt.path) + strlen(opt.host) + strlen(opt.content_type));
    request_len = (size_t)sprintf(request,
                                  "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\n"
                                  "Content-Length: %zu\r\n%s\r\n",
                                  opt.path, opt.host, opt.port, opt.content_type, body_len,
                                  opt.mode == HANDSHAKE ? "Connection: close\r\n" : "");
    memcpy(request + request_len, body, body_len);
    request_len += body_len;

    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (SSL_CTX_use_certificate_chain_file(ctx, opt.cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, opt.key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx, opt.ca, NULL) != 1) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    signal(SIGPIPE, SIG_IGN);

    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) { fprintf(stderr, "bad --host\n"); return 2; }

    ep = epoll_create1(0);
    struct conn *conns = calloc((size_t)opt.conns, sizeof *conns);
    struct epoll_event evs[256];
    struct epoll_event in_ev = {.events = EPOLLIN, .data.ptr = NULL};
    t_start = now_us();
    t_measure = opt.mode == IDLE ? 0 : t_start + (uint64_t)(opt.warmup * 1e6);
    t_stop = t_measure + (uint64_t)(opt.duration * 1e6);

    if (opt.mode == IDLE) {
        /* open in batches of 50 so that no server's accept backlog overflows */
        int opened = 0, held = 0;
        uint64_t deadline = t_start + (uint64_t)(opt.duration * 1e6);
        while (held < opt.conns && now_us() < deadline) {
            int busy = 0;
            held = 0;
            for (int i = 0; i < opened; i++) {
                if (conns[i].st == HELD) held++;
                else if (conns[i].st != CLOSED) busy++;
            }
            while (busy < 50 && opened < opt.conns) { conn_open(&conns[opened++]); busy++; }
            if (!busy && opened == opt.conns) break;
            int n = epoll_wait(ep, evs, 256, 100);
            for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
        }
        held = 0;
        for (int i = 0; i < opt.conns; i++) held += conns[i].st == HELD;
        printf("ready %d %llu %.3f\n", held, (unsigned long long)st.errors, (double)(now_us() - t_start) / 1e6);
        fflush(stdout);
        epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in_ev);
        for (int done = 0; !done;) {
            int n = epoll_wait(ep, evs, 256, 1000);
            for (int i = 0; i < n; i++) {
                if (!evs[i].data.ptr) done = 1;
                else on_event(evs[i].data.ptr, evs[i].events);
            }
        }
        held = 0;
        for (int i = 0; i < opt.conns; i++) held += conns[i].st == HELD;
        printf("{\"mode\": \"idle\", \"held\": %d, \"closed_by_server\": %llu, \"errors\": %llu, \"ok\": %llu, "
               "\"non2xx\": %llu, \"first_error\": ",
               held, (unsigned long long)st.closed_by_server, (unsigned long long)st.errors,
               (unsigned long long)st.ok, (unsigned long long)st.non2xx);
        json_string(st.first_error);
        printf(", \"protocol\": \"%s\", \"cipher\": \"%s\"}\n", st.protocol, st.cipher);
        return 0;
    }

    for (int i = 0; i < opt.conns; i++) conn_open(&conns[i]);
    uint64_t grace_end = 0;
    for (;;) {
        uint64_t t = now_us();
        if (!stopping && t >= t_stop) {
            stopping = 1;
            grace_end = t + (uint64_t)(opt.grace * 1e6);
            /* connections that are not waiting for an answer stop now */
            for (int i = 0; i < opt.conns; i++)
                if (conns[i].st != READING && conns[i].st != WRITING) conn_close(&conns[i]);
        }
        if (stopping) {
            int busy = 0;
            for (int i = 0; i < opt.conns; i++) busy += conns[i].st != CLOSED;
            if (!busy || t >= grace_end) break;
        }
        int n = epoll_wait(ep, evs, 256, 50);
        for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
    }
    uint64_t t_end = now_us();
    uint64_t unanswered = 0;
    for (int i = 0; i < opt.conns; i++)
        if (conns[i].st == READING || conns[i].st == WRITING) { unanswered++; conn_close(&conns[i]); }

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 (double)ru.ru_stime.tv_usec / 1e6;
    double measured = (double)(t_stop - t_measure) / 1e6;
    qsort(st.lat, st.n_lat, sizeof *st.lat, cmp_u32);
    uint64_t answered = st.ok + st.non2xx + st.badlen;
    printf("{\"mode\": \"%s\", \"connections\": %d, \"duration_s\": %.3f, \"wall_s\": %.3f, \"sent\": %llu, "
           "\"answered\": %llu, \"ok\": %llu, \"non2xx\": %llu, \"first_bad_status\": %d, \"bad_length\": %llu, "
           "\"errors\": %llu, \"unanswered\": %llu, \"reconnects\": %llu, \"rps\": %.1f, \"p50_us\": %.0f, "
           "\"p90_us\": %.0f, \"p99_us\": %.0f, \"max_us\": %.0f, \"client_cpu_s\": %.3f, \"protocol\": \"%s\", "
           "\"cipher\": \"%s\", \"first_error\": ",
           opt.mode == KEEPALIVE ? "keepalive" : "handshake", opt.conns, measured, (double)(t_end - t_start) / 1e6,
           (unsigned long long)st.sent, (unsigned long long)answered, (unsigned long long)st.ok,
           (unsigned long long)st.non2xx, st.first_status_bad, (unsigned long long)st.badlen,
           (unsigned long long)st.errors, (unsigned long long)unanswered, (unsigned long long)st.reconnects,
           (double)answered / measured, pct(50), pct(90), pct(99), pct(100), cpu, st.protocol, st.cipher);
    json_string(st.first_error);
    printf("}\n");
    return 0;
}
