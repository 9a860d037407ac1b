/* Host name lookups that never block the caller: getaddrinfo runs on a thread of its own,
 * and a pipe becomes readable when it is done, so a blocking wait can bound it by a deadline
 * (poll) and an event loop can watch it like a socket. A lookup given up (the deadline
 * passed, the connection was closed) is forgotten at once; its thread finishes in the
 * background (a resolver that never answers holds only that thread) and frees what it used. */
#ifndef MT_RESOLVE_H
#define MT_RESOLVE_H

#include <netdb.h>

typedef struct mt_resolve mt_resolve;

/* Starts looking up host (TCP, port `port`). NULL with *err set: MT_ERR_NOMEM, or MT_ERR_IO
 * when no pipe or thread could be made. */
mt_resolve *mt_resolve_start(const char *host, int port, int *err);
/* Readable once the lookup has ended. */
int mt_resolve_fd(const mt_resolve *r);
/* 0 while the lookup runs; 1 once it ended: *ai is the address list (the caller's, for
 * freeaddrinfo), or NULL with *gai_err the getaddrinfo error. */
int mt_resolve_result(mt_resolve *r, struct addrinfo **ai, int *gai_err);
/* Forgets the lookup (NULL is fine). */
void mt_resolve_free(mt_resolve *r);

#endif
