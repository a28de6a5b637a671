/* The curated list of Apache/APR headers bindgen reads. Headers come from the local
 * apache2-dev install (found with `apxs -q`), never vendored: apr.h is build-specific. */
#include <httpd.h>
#include <http_config.h>
#include <http_protocol.h>
#include <http_request.h>
#include <http_log.h>
#include <http_core.h>
#include <http_main.h>
#include <ap_mpm.h>
#include <ap_regex.h>
#include <util_filter.h>
#include <util_script.h>
#include <unixd.h>
#include <mod_unixd.h>
#include <scoreboard.h>
#include <mpm_common.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_buckets.h>
#include <apr_file_io.h>
#include <apr_thread_proc.h>
#include <apr_network_io.h>
#include <apr_portable.h>
#include <apr_optional.h>
#include <mod_auth.h>
#include "shim.h"
