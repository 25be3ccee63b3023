/*
 * evudp6 — log messages of the library.
 *
 * The library never writes to standard error or any other file itself.
 * The few things worth telling an operator that are not errors returned
 * to the caller (a kernel that stops giving IPV6_PKTINFO, for instance)
 * are passed to a callback the application sets, as libevent's
 * event_set_log_callback() does. Without one they are dropped: the
 * default is silence. Every such event is also counted in the stats of
 * the object concerned.
 */
#ifndef EVUDP6_LOG_H
#define EVUDP6_LOG_H

#include <evudp6/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Severity of a log message. */
enum evudp6_log_severity {
	EVUDP6_LOG_DEBUG = 0,
	EVUDP6_LOG_INFO = 1,
	EVUDP6_LOG_WARN = 2,
	EVUDP6_LOG_ERROR = 3
};

/**
 * A log message.
 *
 * @param severity  enum evudp6_log_severity
 * @param msg       one line, without a trailing newline or an "evudp6:"
 *                  prefix; valid only during the call
 *
 * Called on the thread of the event_base whose object logs, from inside
 * the library: it must not call back into the object that logged.
 */
typedef void (*evudp6_log_message_cb)(int severity, const char *msg, void *arg);

/**
 * Set (or with NULL clear) the process-wide log callback. Set it before
 * creating transports or messengers: the setting itself is not
 * synchronised with threads that may be logging.
 */
EVUDP6_API void evudp6_log_set_cb(evudp6_log_message_cb cb, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* EVUDP6_LOG_H */
