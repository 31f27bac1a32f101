#!/bin/sh
# The sample app's entrypoint: reads FAIL_PERCENT, writes the nginx snippet
# that fails that share of requests, and hands over to nginx.
#
# FAIL_PERCENT (a whole number 0-100, default 0) is the share of requests
# answered with HTTP 500, drawn per request. Requests from the load
# balancer's health checker (User-Agent ELB-HealthChecker/...) are never
# failed, so a task serving 500s to its users stays healthy, as a bad
# release does. nginx.conf holds the rest: the map that spares the health
# checker and the location that answers the failures.
set -eu

SNIPPET=/etc/nginx/conf.d/fail-percent.conf

percent=${FAIL_PERCENT:-0}
case $percent in
'' | *[!0-9]*) valid=no ;;
*) valid=yes ;;
esac
# Leading zeros off, so that the shell does not read 010 as octal.
while [ "$valid" = yes ] && [ "${#percent}" -gt 1 ] && [ "${percent#0}" != "$percent" ]; do
    percent=${percent#0}
done
if [ "$valid" = no ] || [ "${#percent}" -gt 3 ] || [ "$percent" -gt 100 ]; then
    echo "app-sample: FAIL_PERCENT must be a whole number from 0 to 100 (the share of requests answered with HTTP 500), not '$FAIL_PERCENT'" >&2
    exit 64
fi

# split_clients draws $app_sample_draw per request from its random
# $request_id: "1" for the failing share, empty for the rest. Its shares
# must be above 0 % and add up to at most 100 %.
{
    echo "# Written by app-sample-entrypoint.sh at start: FAIL_PERCENT=$percent."
    echo 'split_clients "${request_id}" $app_sample_draw {'
    [ "$percent" -eq 0 ] || echo "    $percent% 1;"
    [ "$percent" -eq 100 ] || echo '    * "";'
    echo '}'
    echo 'map "" $app_sample_fail_percent {'
    echo "    default $percent;"
    echo '}'
} >"$SNIPPET"
if [ "$percent" -gt 0 ]; then
    echo "app-sample: FAIL_PERCENT=$percent: $percent% of requests answer HTTP 500 (never the load balancer's health checks)" >&2
fi

[ "$#" -gt 0 ] || set -- nginx -g 'daemon off;'
# The official nginx image's own entrypoint runs its /docker-entrypoint.d
# scripts first; an image without it (the tests' offline stand-in) runs
# nginx directly.
if [ -x /docker-entrypoint.sh ]; then
    exec /docker-entrypoint.sh "$@"
fi
exec "$@"
