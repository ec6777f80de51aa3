#include <curl/curl.h>
#include <json-c/json_c_version.h>
#include <openssl/crypto.h>
#include <zlib.h>

#include "shardpipe/err.h"
#include "shardpipe/version.h"

int sp_version_print(FILE *f)
{
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    /* OpenSSL_version already starts with "OpenSSL ". */
    int n = fprintf(f, "shardpipe %s\nlibcurl %s (%s)\n%s\njson-c %s\nzlib %s\n", SP_VERSION,
                    cv && cv->version ? cv->version : "?",
                    cv && cv->ssl_version ? cv->ssl_version : "no TLS",
                    OpenSSL_version(OPENSSL_VERSION), json_c_version(), zlibVersion());
    return n < 0 || fflush(f) != 0 ? SP_ERR : SP_OK;
}
