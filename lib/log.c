/*
 * evudp6 — log messages: to the application's callback, never to a file.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "log-internal.h"

static evudp6_log_message_cb log_cb;
static void *log_arg;

void evudp6_log_set_cb(evudp6_log_message_cb cb, void *arg)
{
	log_cb = cb;
	log_arg = cb ? arg : NULL;
}

void evudp6__log(int severity, const char *fmt, ...)
{
	evudp6_log_message_cb cb = log_cb;
	if (!cb)
		return;
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cb(severity, buf, log_arg);
}
