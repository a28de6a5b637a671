/* C macros of APR/Apache exposed as functions for Rust (bindgen skips function-like macros). */
#include "shim.h"
#include <apr_network_io.h>
#include <http_core.h>

void wsgi_rs_brigade_insert_tail(apr_bucket_brigade *bb, apr_bucket *b) { APR_BRIGADE_INSERT_TAIL(bb, b); }
int wsgi_rs_brigade_empty(apr_bucket_brigade *bb) { return APR_BRIGADE_EMPTY(bb); }
apr_bucket *wsgi_rs_brigade_first(apr_bucket_brigade *bb) { return APR_BRIGADE_FIRST(bb); }
apr_bucket *wsgi_rs_brigade_sentinel(apr_bucket_brigade *bb) { return APR_BRIGADE_SENTINEL(bb); }
apr_bucket *wsgi_rs_bucket_next(apr_bucket *b) { return APR_BUCKET_NEXT(b); }
int wsgi_rs_bucket_is_eos(apr_bucket *b) { return APR_BUCKET_IS_EOS(b); }
int wsgi_rs_bucket_is_metadata(apr_bucket *b) { return APR_BUCKET_IS_METADATA(b); }
apr_status_t wsgi_rs_bucket_read(apr_bucket *b, const char **str, apr_size_t *len, int block)
{ return apr_bucket_read(b, str, len, block ? APR_BLOCK_READ : APR_NONBLOCK_READ); }
void wsgi_rs_bucket_delete(apr_bucket *b) { apr_bucket_delete(b); }
int wsgi_rs_useragent_port(request_rec *r)
{ return r->useragent_addr ? r->useragent_addr->port : (r->connection->client_addr ? r->connection->client_addr->port : 0); }
int wsgi_rs_local_port(request_rec *r)
{ return r->connection->local_addr ? r->connection->local_addr->port : 0; }
int wsgi_rs_cgi_pass_auth(request_rec *r)
{
    core_dir_config *conf = ap_get_core_module_config(r->per_dir_config);
    return conf && conf->cgi_pass_auth == AP_CGI_PASS_AUTH_ON;
}
