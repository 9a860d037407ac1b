/* Host name lookups on a thread (see mt_resolve.h). */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "mt_err.h"
#include "mt_resolve.h"

/* Shared by the caller and the thread: whichever lets go last frees it. */
struct mt_resolve {
    pthread_mutex_t mu;
    int refs;
    int done, gai_err;
    struct addrinfo *ai;
    int pipe[2];            /* the thread writes one byte to [1] when done */
    char port[8];
    char host[];
};

/* Called with mu held; releases it. */
static void unref(mt_resolve *r)
{
    int left = --r->refs;
    pthread_mutex_unlock(&r->mu);
    if (left) return;
    if (r->ai) freeaddrinfo(r->ai);
    close(r->pipe[0]);
    close(r->pipe[1]);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void *lookup(void *arg)
{
    mt_resolve *r = arg;
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    int gai = getaddrinfo(r->host, r->port, &hints, &ai);
    if (gai != 0) {
        hints.ai_flags = 0; /* loopback-only hosts: AI_ADDRCONFIG may hide ::1 */
        gai = getaddrinfo(r->host, r->port, &hints, &ai);
    }
    pthread_mutex_lock(&r->mu);
    r->ai = gai ? NULL : ai;
    r->gai_err = gai;
    r->done = 1;
    ssize_t w = write(r->pipe[1], "", 1);
    (void)w; /* a full pipe is readable already */
    unref(r);
    return NULL;
}

mt_resolve *mt_resolve_start(const char *host, int port, int *err)
{
    size_t n = strlen(host);
    mt_resolve *r = calloc(1, sizeof *r + n + 1);
    *err = MT_ERR_NOMEM;
    if (!r) return NULL;
    memcpy(r->host, host, n + 1);
    snprintf(r->port, sizeof r->port, "%d", port);
    *err = MT_ERR_IO;
    if (pipe(r->pipe) != 0) { free(r); return NULL; }
    for (int i = 0; i < 2; i++) {
        fcntl(r->pipe[i], F_SETFD, FD_CLOEXEC);
        fcntl(r->pipe[i], F_SETFL, fcntl(r->pipe[i], F_GETFL) | O_NONBLOCK);
    }
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        close(r->pipe[0]); close(r->pipe[1]); free(r);
        return NULL;
    }
    r->refs = 2;
    pthread_attr_t attr;
    pthread_t t;
    sigset_t all, old;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* signals stay with the host's threads */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        rc = pthread_create(&t, &attr, lookup, r);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        pthread_mutex_lock(&r->mu);
        r->refs = 1;
        unref(r);
        return NULL;
    }
    *err = MT_OK;
    return r;
}

int mt_resolve_fd(const mt_resolve *r) { return r->pipe[0]; }

int mt_resolve_result(mt_resolve *r, struct addrinfo **ai, int *gai_err)
{
    pthread_mutex_lock(&r->mu);
    int done = r->done;
    if (done) {
        *ai = r->ai;
        *gai_err = r->gai_err;
        r->ai = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    return done;
}

void mt_resolve_free(mt_resolve *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    unref(r);
}
