#!/bin/sh
# Creates (or reuses) the Grafana service account "envtrack" with role Editor
# (enough to post annotations) and prints a new token for it as
#   GRAFANA_TOKEN=glsa_...
# so that `./grafana-token.sh >> .env` hands it to envtrack.
#
#   GRAFANA_URL   default http://127.0.0.1:3000
#   GF_ADMIN_USER default admin; GF_ADMIN_PASSWORD default: the value in ./.env, else admin
set -eu
cd "$(dirname "$0")"
if [ -z "${GF_ADMIN_PASSWORD:-}" ] && [ -f .env ]; then
	GF_ADMIN_PASSWORD=$(sed -n 's/^GF_ADMIN_PASSWORD=//p' .env | tail -n 1)
fi
url=${GRAFANA_URL:-http://127.0.0.1:3000}
auth="${GF_ADMIN_USER:-admin}:${GF_ADMIN_PASSWORD:-admin}"

api() { # method path [json]
	curl -fsS -u "$auth" -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "$url$2"
}

id=$(api GET '/api/serviceaccounts/search?query=envtrack' |
	sed -n 's/.*"id": *\([0-9][0-9]*\), *"name": *"envtrack".*/\1/p')
if [ -z "$id" ]; then
	id=$(api POST /api/serviceaccounts '{"name":"envtrack","role":"Editor"}' |
		sed -n 's/^{ *"id": *\([0-9][0-9]*\).*/\1/p')
fi
[ -n "$id" ] || { echo "grafana-token.sh: could not create the service account" >&2; exit 1; }
key=$(api POST "/api/serviceaccounts/$id/tokens" "{\"name\":\"envtrack-$(date +%s)\"}" |
	sed -n 's/.*"key": *"\([^"]*\)".*/\1/p')
[ -n "$key" ] || { echo "grafana-token.sh: no token in Grafana's answer" >&2; exit 1; }
echo "GRAFANA_TOKEN=$key"
