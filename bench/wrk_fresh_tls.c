/*
 * LD_PRELOAD library for wrk in `npm run bench:compare`'s EST window (bench/est_wrk.lua).
 * bench/compare.ts compiles it at run time (cc -shared) into its work folder.
 *
 * 1. A full TLS handshake on every connection. wrk re-opens a connection with SSL_shutdown +
 *    SSL_clear on the same SSL object, and SSL_clear keeps the session: the next handshake offers
 *    the TLS 1.3 ticket the server sent and resumes it (measured against a Node https server with
 *    its default tickets, as Shomei's listeners have: about half of wrk's handshakes were resumed,
 *    with no certificate sent or signed). Dropping the session before a connection's first
 *    SSL_connect makes every connection a new client's, as the EST goal wants.
 * 2. The time of a whole enrollment. wrk's own latency starts at the first byte of the request,
 *    after the TCP connect and the TLS handshake. This one starts at wrk's first SSL_connect call
 *    on a connection (its TCP connect has completed) and ends at the SSL_shutdown wrk calls when
 *    it re-opens the connection after the response (or after an error, which wrk counts and the
 *    bench reports as a failure). The times, in microseconds, one a line, go to the file named
 *    by WRK_FRESH_TLS_TIMES when wrk exits.
 * 3. No busy wait during the handshake. wrk registers a connecting socket for readable and
 *    writable and calls SSL_connect on either; a connected socket is always writable, so while the
 *    server has not answered the ClientHello yet wrk spins (measured: a server stopped for 3 s
 *    with 32 connections waiting cost wrk 1.7 s of CPU). Under a server that takes milliseconds a
 *    handshake that took a core from a 2-core machine. When SSL_connect wants to read, this
 *    narrows the socket's epoll registration to readable; wrk's event loop widens it again
 *    (EPOLL_CTL_MOD with its own mask) when it registers the connection's read and write handlers
 *    after the handshake.
 * SSL_clear is left alone: libssl calls it itself at the start of every handshake.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

/* The epoll instance (+1, 0: none) each socket is registered with, as wrk's event loop told epoll_ctl. */
#define MAX_FD 65536
static int epoll_of[MAX_FD];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int (*real_connect)(SSL *);
static int (*real_shutdown)(SSL *);
static int (*real_epoll_ctl)(int, int, int, struct epoll_event *);
static int start_index = -1;
static uint32_t *times;
static size_t count, capacity;

static void resolve(void) {
  real_connect = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_connect");
  real_shutdown = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_shutdown");
  real_epoll_ctl = (int (*)(int, int, int, struct epoll_event *))dlsym(RTLD_NEXT, "epoll_ctl");
  start_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static uint64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* The start time rides in the SSL object's ex_data as an integer (0: no connection under way). */
int SSL_connect(SSL *s) {
  pthread_once(&once, resolve);
  if (SSL_get_ex_data(s, start_index) == NULL) {
    SSL_set_session(s, NULL);
    SSL_set_ex_data(s, start_index, (void *)(uintptr_t)now_us());
  }
  int r = real_connect(s);
  if (r != 1 && SSL_get_error(s, r) == SSL_ERROR_WANT_READ) {
    int fd = SSL_get_fd(s);
    if (fd >= 0 && fd < MAX_FD && epoll_of[fd] != 0) {
      struct epoll_event ev = { .events = EPOLLIN, .data = { .fd = fd } };
      real_epoll_ctl(epoll_of[fd] - 1, EPOLL_CTL_MOD, fd, &ev);
    }
  }
  return r;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
  pthread_once(&once, resolve);
  if (fd >= 0 && fd < MAX_FD) epoll_of[fd] = op == EPOLL_CTL_DEL ? 0 : epfd + 1;
  return real_epoll_ctl(epfd, op, fd, ev);
}

static void record(uint64_t took) {
  pthread_mutex_lock(&lock);
  if (count == capacity) {
    size_t more = capacity ? 2 * capacity : 4096;
    uint32_t *grown = realloc(times, more * sizeof *times);
    if (grown) {
      times = grown;
      capacity = more;
    }
  }
  if (count < capacity) times[count++] = took > UINT32_MAX ? UINT32_MAX : (uint32_t)took;
  pthread_mutex_unlock(&lock);
}

int SSL_shutdown(SSL *s) {
  pthread_once(&once, resolve);
  uintptr_t start = (uintptr_t)SSL_get_ex_data(s, start_index);
  if (start != 0) {
    record(now_us() - start);
    SSL_set_ex_data(s, start_index, NULL);
  }
  return real_shutdown(s);
}

__attribute__((destructor)) static void write_times(void) {
  const char *path = getenv("WRK_FRESH_TLS_TIMES");
  /* count 0: a process that made no connection (a wrapper such as time(1) that inherited LD_PRELOAD). */
  if (!path || count == 0) return;
  FILE *f = fopen(path, "w");
  if (!f) return;
  for (size_t i = 0; i < count; i++) fprintf(f, "%u\n", times[i]);
  fclose(f);
}
