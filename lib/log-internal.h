/*
 * evudp6 — the library's log messages go to the application's callback.
 */
#ifndef EVUDP6_LOG_INTERNAL_H
#define EVUDP6_LOG_INTERNAL_H

#include <evudp6/log.h>

/* Format one message (cut at 255 bytes) and pass it to the callback, if
 * one is set; nothing is allocated. */
void evudp6__log(int severity, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* EVUDP6_LOG_INTERNAL_H */
