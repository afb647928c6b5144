/* The key goes to one origin only, and never into a log line. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "internal.h"

int iblai_has_crlf(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 1;
  return 0;
}

char *iblai_origin_of(const char *url) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
  if (!u) return NULL;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) goto done;
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) goto done;
  if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) goto done;
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) goto done;
  if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) goto done;
  size_t n = strlen(scheme) + strlen(host) + strlen(port) + 5;
  out = malloc(n);
  if (out) {
    snprintf(out, n, "%s://%s:%s", scheme, host, port);
    for (char *p = out; *p; p++) *p = (char)tolower((unsigned char)*p);
  }
done:
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return out;
}

/* verbose output: curl's own trace, with the Authorization line masked. */
int iblai_debug_redacted(CURL *h, curl_infotype type, char *data, size_t size, void *ud) {
  (void)h;
  (void)ud;
  if (type != CURLINFO_TEXT && type != CURLINFO_HEADER_IN && type != CURLINFO_HEADER_OUT) return 0;
  const char *prefix = type == CURLINFO_TEXT ? "* " : type == CURLINFO_HEADER_IN ? "< " : "> ";
  size_t i = 0;
  while (i < size) {
    size_t j = i;
    while (j < size && data[j] != '\n') j++;
    size_t len = j - i;
    while (len && (data[i + len - 1] == '\r')) len--;
    if (len || type == CURLINFO_TEXT) {
      if (len >= 14 && strncasecmp(data + i, "authorization:", 14) == 0)
        fprintf(stderr, "%sAuthorization: [redacted]\n", prefix);
      else
        fprintf(stderr, "%s%.*s\n", prefix, (int)len, data + i);
    }
    i = j + 1;
  }
  return 0;
}
