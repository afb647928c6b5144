/* The one place that decides which failures are retried (and says why), and how long to wait
 * before the next attempt. The retry log event and err.retryable both come from here. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "internal.h"

int iblai_method_idempotent(const char *method) {
  static const char *const safe[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", NULL};
  for (int i = 0; safe[i]; i++)
    if (strcasecmp(method, safe[i]) == 0) return 1;
  return 0;
}

/* In the order of the decision: a body cut off by our own size limit is final; then failures
 * where the server never answered, or its answer was cut short; then the statuses that mean
 * "not now" (throttled, or a gateway that could not reach the service). */
const char *iblai_retry_reason(CURLcode rc, long status, int too_large) {
  if (too_large) return NULL;
  switch (rc) {
  case CURLE_OK: break;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY: return "the host name did not resolve";
  case CURLE_COULDNT_CONNECT: return "the connection failed";
  case CURLE_OPERATION_TIMEDOUT: return "the request timed out";
  case CURLE_GOT_NOTHING: return "the server closed the connection without answering";
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR: return "the connection broke";
  case CURLE_PARTIAL_FILE: return "the answer was cut short";
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM: return "the HTTP/2 stream failed";
  default: return NULL;
  }
  switch (status) {
  case 429: return "HTTP 429";
  case 502: return "HTTP 502";
  case 503: return "HTTP 503";
  case 504: return "HTTP 504";
  default: return NULL;
  }
}

/* splitmix64: a tiny per-session generator, so no global random state is shared. */
uint64_t iblai_rng_next(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* The wait before retry number `attempt`. Without a hint (hinted < 0): capped exponential backoff
 * with full jitter, uniform in [0, c] where c = min(cap, base * 2^(attempt-1)). With a server's
 * Retry-After: what it asks, up to hint_cap, but never less than the upper half of that range,
 * [c/2, c]: a "0" or a date already past must not let the retries fire back to back. */
double iblai_retry_delay(uint64_t *rng, int attempt, double base, double cap, double hinted, double hint_cap) {
  double ceiling = base;
  for (int i = 1; i < attempt && ceiling < cap; i++) ceiling *= 2;
  if (ceiling > cap) ceiling = cap;
  double unit = (double)(iblai_rng_next(rng) >> 11) / (double)(1ull << 53);
  if (hinted < 0) return ceiling * unit;
  double least = ceiling * (0.5 + 0.5 * unit);
  if (hinted > hint_cap) hinted = hint_cap;
  return hinted > least ? hinted : least;
}

/* Retry-After is delta-seconds or an HTTP-date; returns seconds to wait, or -1 if unusable. */
double iblai_parse_retry_after(const char *value, long now) {
  if (!value) return -1;
  while (*value == ' ' || *value == '\t') value++;
  if (!*value) return -1;
  if (isdigit((unsigned char)*value)) { /* delta-seconds: decimal digits only */
    double secs = 0;
    const char *p = value;
    while (isdigit((unsigned char)*p)) secs = secs * 10 + (*p++ - '0');
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    return *p == '\0' ? secs : -1;
  }
  time_t when = curl_getdate(value, NULL);
  if (when == (time_t)-1) return -1;
  double delta = (double)(when - now);
  return delta > 0 ? delta : 0;
}
