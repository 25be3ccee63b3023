/*
 * evudp6 — CoAP over one dual-stack UDP socket for libevent programs.
 * Umbrella header: includes every public header of the library.
 */
#ifndef EVUDP6_H
#define EVUDP6_H

#include <evudp6/common.h>
#include <evudp6/log.h>
#include <evudp6/msg.h>
#include <evudp6/addr.h>
#include <evudp6/icmp.h>
#include <evudp6/transport.h>
#include <evudp6/resolve.h>
#include <evudp6/messenger.h>
#include <evudp6/block.h>
#include <evudp6/observe.h>
#include <evudp6/server.h>

#endif /* EVUDP6_H */
