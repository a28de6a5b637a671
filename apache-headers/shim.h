/* Functions standing in for APR/Apache C macros that bindgen cannot translate.
 * Each is a one-line wrapper; see shim.c. */
#ifndef MOD_WSGI_RS_SHIM_H
#define MOD_WSGI_RS_SHIM_H
#include <apr_buckets.h>
#include <httpd.h>

void wsgi_rs_brigade_insert_tail(apr_bucket_brigade *bb, apr_bucket *b);
int wsgi_rs_brigade_empty(apr_bucket_brigade *bb);
apr_bucket *wsgi_rs_brigade_first(apr_bucket_brigade *bb);
apr_bucket *wsgi_rs_brigade_sentinel(apr_bucket_brigade *bb);
apr_bucket *wsgi_rs_bucket_next(apr_bucket *b);
int wsgi_rs_bucket_is_eos(apr_bucket *b);
int wsgi_rs_bucket_is_metadata(apr_bucket *b);
apr_status_t wsgi_rs_bucket_read(apr_bucket *b, const char **str, apr_size_t *len, int block);
void wsgi_rs_bucket_delete(apr_bucket *b);
/* The remote address Apache logs for the client (useragent_ip) and its port. */
int wsgi_rs_useragent_port(request_rec *r);
int wsgi_rs_local_port(request_rec *r);
/* Apache's CGIPassAuth is On for the request (a bitfield of core_dir_config). */
int wsgi_rs_cgi_pass_auth(request_rec *r);
#endif
