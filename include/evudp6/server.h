/*
 * evudp6 — resources: a CoAP server API in the spirit of evhttp.
 *
 *     evudp6_server_new(&srv, messenger);
 *     evudp6_server_add(srv, "/hello", EVUDP6_METHOD_GET, hello_cb, arg, &res);
 *
 * A server sits on a messenger (it becomes the messenger's request
 * handler) and routes each request by its Uri-Path to a resource added by
 * exact path or by prefix ("/files/\*"). It answers what the RFCs say a
 * server answers without the application: /.well-known/core in RFC 6690
 * link format with query filtering, 4.04 for an unknown path, 4.05 for a
 * method the resource does not allow, 4.02 for an unrecognised critical
 * option or a critical option whose length is outside its RFC 7252 range,
 * 4.06 for an Accept the resource cannot serve, 4.15 for a Content-Format
 * it does not take, 5.05 for a proxy request. A handler answers through
 * a response object.
 *
 * Routing allocates nothing: resources are matched against the request's
 * options in place. Resources are allocated when added. Callbacks run on
 * the messenger's event_base thread; a server is not thread-safe.
 */
#ifndef EVUDP6_SERVER_H
#define EVUDP6_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <evudp6/addr.h>
#include <evudp6/common.h>
#include <evudp6/messenger.h>
#include <evudp6/msg.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A server: resources on one messenger. */
struct evudp6_server;
/** A resource: a path (or path prefix), its methods, handlers and link attributes. */
struct evudp6_resource;
/**
 * The answer a handler is writing: code, options and body. Valid during
 * the handler call only (see evudp6_response_defer() to answer later).
 */
struct evudp6_response;

/** Method bit of a method code: EVUDP6_METHOD(EVUDP6_PUT). */
#define EVUDP6_METHOD(code)  (1u << (code))
#define EVUDP6_METHOD_GET    EVUDP6_METHOD(EVUDP6_GET)
#define EVUDP6_METHOD_POST   EVUDP6_METHOD(EVUDP6_POST)
#define EVUDP6_METHOD_PUT    EVUDP6_METHOD(EVUDP6_PUT)
#define EVUDP6_METHOD_DELETE EVUDP6_METHOD(EVUDP6_DELETE)
#define EVUDP6_METHOD_FETCH  EVUDP6_METHOD(EVUDP6_FETCH)
#define EVUDP6_METHOD_PATCH  EVUDP6_METHOD(EVUDP6_PATCH)
#define EVUDP6_METHOD_IPATCH EVUDP6_METHOD(EVUDP6_IPATCH)
/** Every method the registry defines (0.01 to 0.07). */
#define EVUDP6_METHOD_ALL 0xfeu

/** Resource flags (evudp6_resource_set_flags()). */
enum evudp6_resource_flag {
	/**
	 * The resource can be observed (RFC 7641): listed with "obs" in
	 * /.well-known/core, and the server registers observers itself. A
	 * GET or FETCH with Observe: 0 runs the handler once as usual; a
	 * 2.xx answer goes out with the Observe option (evudp6_observe_accept(),
	 * evudp6_observe(3)) and the requester is kept in the resource's
	 * table of EVUDP6_RESOURCE_MAX_OBSERVERS (full table or full observe
	 * pools: answered without Observe, which RFC 7641 3.1 lets a client
	 * read as "not observed"). Observe: 1 deregisters and is answered as
	 * a plain GET. evudp6_resource_notify() sends the observers a fresh
	 * representation. An observer that answers with RST, never
	 * acknowledges a CON notification, draws an ICMP error or registers
	 * again drops out of the table by itself.
	 */
	EVUDP6_RESOURCE_OBSERVABLE = 1u << 0,
	/** Not listed in /.well-known/core (still served). */
	EVUDP6_RESOURCE_HIDDEN = 1u << 1,
	/**
	 * The representation does not depend on the requester:
	 * evudp6_resource_notify() runs the GET handler once and sends its
	 * answer to every observer (evudp6_observation_notify_many()).
	 * Without it the handler runs once per observer.
	 */
	EVUDP6_RESOURCE_SHARED_REPRESENTATION = 1u << 2,
};

/** Most Uri-Path segments a resource path may have. */
#define EVUDP6_SERVER_PATH_MAX_SEGMENTS 16
/** Most accepted and produced Content-Formats per resource. */
#define EVUDP6_RESOURCE_MAX_FORMATS 8
/** Most observers of one resource at once (EVUDP6_RESOURCE_OBSERVABLE). */
#define EVUDP6_RESOURCE_MAX_OBSERVERS 64
/** Most link attributes per resource (besides ct and obs). */
#define EVUDP6_RESOURCE_MAX_ATTRS 8
/**
 * Room for a response body written with evudp6_response_append(): one
 * block of RFC 7959's default size. /.well-known/core is written there
 * too; a longer listing needs a block server
 * (evudp6_server_set_block_server()), which serves it up to its max_body
 * (without one it is answered 5.00).
 */
#define EVUDP6_RESPONSE_BODY_MAX 1024

/**
 * Handle a request routed to @p res.
 *
 * @param res     the resource (exact or prefix match)
 * @param rsp     the answer: its code starts as 2.05 Content for GET and
 *                FETCH, 2.04 Changed for POST, PUT, PATCH and iPATCH, 2.02
 *                Deleted for DELETE. Whatever the handler has set is sent
 *                when it returns, unless it called evudp6_response_defer().
 * @param req     the request, a view valid during the call
 * @param remote  the requester, with the local address it asked; valid
 *                during the call
 *
 * The handler may add or remove resources (its own too) and free the
 * server: the answer is still sent, then what was removed or freed is
 * released when the handler returns. It may also free the server and then
 * the messenger; nothing is sent then.
 */
typedef void (*evudp6_resource_cb)(struct evudp6_resource *res, struct evudp6_response *rsp,
                                   const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg);

/**
 * Told of each request the server answered or let go, after the answer
 * went to the messenger: for logs and counters.
 *
 * @param rsp   the response as sent, for evudp6_response_is_multicast()
 *              and evudp6_response_code(); valid during the call
 * @param code  the response code given to the messenger (which may still
 *              suppress it: No-Response, an error to a multicast request),
 *              0 when nothing was sent (a deferred answer, a multicast
 *              discovery that matched nothing)
 * @param err   0, or the error evudp6_exchange_respond() returned (the
 *              exchange was then acknowledged without a response)
 */
typedef void (*evudp6_server_log_cb)(struct evudp6_server *srv, const struct evudp6_response *rsp,
                                     const struct evudp6_msg *req, const struct evudp6_addr *remote,
                                     uint8_t code, int err, void *arg);

/**
 * Create a server on @p m and install it as @p m's request handler
 * (replacing any). /.well-known/core is there from the start.
 *
 * @param out  receives the server; free it with evudp6_server_free()
 *             before the messenger
 * @return 0, -EINVAL (NULL argument) or -ENOMEM.
 */
EVUDP6_API int evudp6_server_new(struct evudp6_server **out, struct evudp6_messenger *m);

/**
 * Free the server and its resources and clear the messenger's request
 * handler. Open deferred exchanges stay the caller's to answer. Safe
 * inside a handler (takes effect when it returns, after its answer was
 * sent). NULL is ignored.
 */
EVUDP6_API void evudp6_server_free(struct evudp6_server *srv);

/** The messenger the server is on. */
EVUDP6_API struct evudp6_messenger *evudp6_server_messenger(const struct evudp6_server *srv);

/**
 * Add a resource.
 *
 * @param path     "/a/b" (exact: Uri-Path "a", "b"), "/" (no Uri-Path),
 *                 "/files/\*" (prefix: "/files" and everything below it;
 *                 the longest prefix wins, an exact path before any
 *                 prefix). Segments are taken literally (no
 *                 percent-decoding), at most 255 bytes each and
 *                 EVUDP6_SERVER_PATH_MAX_SEGMENTS of them. Copied.
 * @param methods  EVUDP6_METHOD_* bits @p cb serves; other methods get
 *                 4.05 unless evudp6_resource_set_method_cb() adds them
 * @param cb       the handler for those methods (may be NULL when
 *                 @p methods is 0)
 * @param out      receives the resource, may be NULL; valid until
 *                 evudp6_resource_remove() or evudp6_server_free()
 * @return 0; -EINVAL (path not starting with '/', a segment over 255
 *         bytes, too many segments, '*' not as the whole last segment,
 *         methods beyond EVUDP6_METHOD_ALL, @p cb NULL with methods);
 *         -EEXIST (the same path is there, the built-in
 *         /.well-known/core included); -ENOMEM.
 */
EVUDP6_API int evudp6_server_add(struct evudp6_server *srv, const char *path, unsigned int methods,
                                 evudp6_resource_cb cb, void *arg, struct evudp6_resource **out);

/**
 * The resource added with exactly this @p path ("/files/\*" for a prefix
 * resource), or NULL. "/.well-known/core" finds the built-in one, whose
 * attributes may be changed but which cannot be removed.
 */
EVUDP6_API struct evudp6_resource *evudp6_server_find(const struct evudp6_server *srv, const char *path);

/**
 * Remove and free a resource. Safe inside its own handler (it is freed
 * when the handler returns). @return 0, -EPERM for /.well-known/core,
 * -EINVAL for NULL. (Every evudp6_resource_* call refuses a NULL resource
 * with -EINVAL, or ignores it where it returns nothing.)
 */
EVUDP6_API int evudp6_resource_remove(struct evudp6_resource *res);

/**
 * Send every observer of @p res (EVUDP6_RESOURCE_OBSERVABLE) a fresh
 * representation: the GET handler runs once per observer, its @p remote
 * that observer's endpoint (with the local address its registration
 * reached) and its request a GET without options, or once for all with
 * EVUDP6_RESOURCE_SHARED_REPRESENTATION (@p remote is then the first
 * observer's). Its answer goes out with evudp6_observation_notify() (the
 * first block of a large body with a block server); an answer outside
 * 2.xx ends the observation with that final response (RFC 7641 3.2). The
 * handler must not defer. Nothing is allocated: the server's response
 * object is reused. Removing the resource ends its observations with a
 * 4.04 final response, freeing the server with 5.03.
 *
 * @return the number of observers notified (or ended by a non-2.xx
 *         answer), 0 with none; -EINVAL (NULL, not observable, no GET
 *         handler); -EVUDP6_E_STATE inside a handler of this server; or
 *         the first error of evudp6_observation_notify() when no observer
 *         could be notified.
 */
EVUDP6_API int evudp6_resource_notify(struct evudp6_resource *res);

/**
 * Serve @p method (a method code, EVUDP6_GET ... EVUDP6_IPATCH) with
 * @p cb, overriding the handler given to evudp6_server_add() for that
 * method; @p cb NULL stops allowing the method (4.05).
 * @return 0 or -EINVAL for a code outside 0.01-0.07.
 */
EVUDP6_API int evudp6_resource_set_method_cb(struct evudp6_resource *res, uint8_t method,
                                             evudp6_resource_cb cb, void *arg);

/** Set EVUDP6_RESOURCE_* flags (replacing the previous ones). */
EVUDP6_API void evudp6_resource_set_flags(struct evudp6_resource *res, unsigned int flags);

/**
 * Set a link attribute for /.well-known/core: "rt", "if", "title", "sz"
 * or any other RFC 6690 link parameter name. Attributes are listed in the
 * order they were first set ("ct" where the first Content-Format was
 * added, "obs" where EVUDP6_RESOURCE_OBSERVABLE was set). A number is written bare
 * (sz=1024), anything else quoted (rt="temperature core.s"). @p value
 * NULL removes the attribute. Both are copied. Use
 * evudp6_resource_add_content_format() for "ct" and the
 * EVUDP6_RESOURCE_OBSERVABLE flag for "obs".
 * @return 0; -EINVAL (empty name, name "ct", "obs" or "href", or a name
 *         or value with control characters); -ENOSPC (more than
 *         EVUDP6_RESOURCE_MAX_ATTRS); -ENOMEM.
 */
EVUDP6_API int evudp6_resource_set_attr(struct evudp6_resource *res, const char *name, const char *value);

/**
 * Declare a Content-Format the resource serves: listed as "ct" in
 * /.well-known/core, and a request whose Accept names none of the
 * declared ones gets 4.06 Not Acceptable (without any declared, Accept
 * is left to the handler).
 * @return 0, -ENOSPC (more than EVUDP6_RESOURCE_MAX_FORMATS), -EINVAL
 *         (above 65535).
 */
EVUDP6_API int evudp6_resource_add_content_format(struct evudp6_resource *res, uint32_t cf);

/**
 * Declare a Content-Format the resource takes in a request: a request
 * with a Content-Format option naming another one gets 4.15 Unsupported
 * Content-Format (without any declared, every one is left to the
 * handler).
 * @return 0, -ENOSPC, -EINVAL as for evudp6_resource_add_content_format().
 */
EVUDP6_API int evudp6_resource_accept(struct evudp6_resource *res, uint32_t cf);

/**
 * Let a critical option number through to this resource's handler: the
 * server otherwise answers 4.02 Bad Option to a request carrying a
 * critical option the library does not know (RFC 7252 5.4.1).
 * @return 0, -EINVAL (an elective, i.e. even, number or above 65535),
 *         -ENOSPC (more than EVUDP6_RESOURCE_MAX_FORMATS).
 */
EVUDP6_API int evudp6_resource_allow_option(struct evudp6_resource *res, uint32_t number);

/** The path the resource was added with ("/files/\*"); valid while the resource is. */
EVUDP6_API const char *evudp6_resource_path(const struct evudp6_resource *res);

struct evudp6_block_server;

/**
 * Serve bodies of any size block-wise (RFC 7959) through @p bs (see
 * evudp6_block(3)), or with NULL stop. The block server is consulted
 * before routing: it answers follow-up block requests from its snapshot,
 * 2.31 Continue, and its own errors (4.00, 4.02, 4.08, 4.13, 5.03) without
 * a handler, and hands a completed Block1 upload to the handler as one
 * request whose body evudp6_response_request_body() returns whole. Every
 * answer goes through evudp6_block_respond(), which slices a body larger
 * than one block (set it with evudp6_response_set_payload(), up to the
 * block server's max_body). /.well-known/core is served the same way: a
 * listing of any length up to max_body, written into a buffer the server
 * keeps (grown when the listing grows, so a discovery allocates nothing
 * once it has grown; freed with the server). @p bs is not owned: free it
 * after the server.
 */
EVUDP6_API void evudp6_server_set_block_server(struct evudp6_server *srv, struct evudp6_block_server *bs);

/** Set (or with NULL clear) the function told of every request answered. */
EVUDP6_API void evudp6_server_set_log_cb(struct evudp6_server *srv, evudp6_server_log_cb cb, void *arg);

/* ------------------------------------------------------------ response */

/** Set the response code (class 2 to 5). @return 0 or -EINVAL. */
EVUDP6_API int evudp6_response_set_code(struct evudp6_response *rsp, uint8_t code);

/** The response code set so far. */
EVUDP6_API uint8_t evudp6_response_code(const struct evudp6_response *rsp);

/**
 * Add an option to the response; the value is referenced and must stay
 * valid until the handler returns. Errors as for
 * evudp6_msg_builder_add_opt() (RFC length ranges included).
 */
EVUDP6_API int evudp6_response_add_opt(struct evudp6_response *rsp, uint32_t number, const void *value,
                                       size_t len);

/** Add a uint option (Max-Age, ...). Errors as for evudp6_msg_builder_add_uint(). */
EVUDP6_API int evudp6_response_add_uint(struct evudp6_response *rsp, uint32_t number, uint32_t value);

/** Add the Content-Format option. Same as add_uint(EVUDP6_OPT_CONTENT_FORMAT, cf). */
EVUDP6_API int evudp6_response_set_content_format(struct evudp6_response *rsp, uint32_t cf);

/**
 * Set the body by reference (it must stay valid until the handler
 * returns), replacing anything appended. @p len 0 means no body. With a
 * block server (evudp6_server_set_block_server()) the body may be larger
 * than one message; without one it must fit the messenger's max_message.
 */
EVUDP6_API void evudp6_response_set_payload(struct evudp6_response *rsp, const void *body, size_t len);

/**
 * Append @p len bytes to the body (copied into the response's own
 * buffer of EVUDP6_RESPONSE_BODY_MAX bytes).
 * @return 0, or -EVUDP6_E_MSG_NOSPACE when it would not fit (the body is
 *         unchanged).
 */
EVUDP6_API int evudp6_response_append(struct evudp6_response *rsp, const void *data, size_t len);

/** Append formatted text to the body. @return 0 or -EVUDP6_E_MSG_NOSPACE (body unchanged). */
EVUDP6_API int evudp6_response_printf(struct evudp6_response *rsp, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/**
 * The body of the request being answered: its payload (empty: NULL and
 * 0). Returns its length.
 */
EVUDP6_API size_t evudp6_response_request_body(const struct evudp6_response *rsp, const uint8_t **body);

/**
 * The @p i-th Uri-Path segment after the resource's own path (for a
 * prefix resource "/files/\*" asked for "/files/a/b": 0 is "a", 1 is
 * "b"). @p seg->value points into the request.
 * @return 1 and fills @p seg, or 0 past the last segment.
 */
EVUDP6_API int evudp6_response_path_rest(const struct evudp6_response *rsp, size_t i, struct evudp6_opt *seg);

/** Did the request arrive via multicast? */
EVUDP6_API bool evudp6_response_is_multicast(const struct evudp6_response *rsp);

/**
 * Answer later: nothing is sent when the handler returns, and a
 * handle on the messenger's exchange is returned for the caller to answer with
 * evudp6_exchange_respond() (exactly once; a confirmable request gets an
 * empty ACK meanwhile). What was set on @p rsp is discarded.
 */
EVUDP6_API struct evudp6_exchange_handle evudp6_response_defer(struct evudp6_response *rsp);

#ifdef __cplusplus
}
#endif

#endif /* EVUDP6_SERVER_H */
