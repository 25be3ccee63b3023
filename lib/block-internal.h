/*
 * What the rest of the library reads from a block server.
 */
#ifndef EVUDP6_BLOCK_INTERNAL_H
#define EVUDP6_BLOCK_INTERNAL_H

#include <stddef.h>

struct evudp6_block_server;

/** The largest body @p s slices: its configuration's max_body. */
size_t evudp6__block_server_max_body(const struct evudp6_block_server *s);

#endif /* EVUDP6_BLOCK_INTERNAL_H */
