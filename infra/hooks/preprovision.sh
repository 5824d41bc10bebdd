#!/bin/sh
# azd preprovision hook, the two app registrations Bicep cannot create (Entra applications need
# Microsoft Graph, not ARM):
# 1. the multi-tenant app registration aks-hublink acts as, and its service principal in the hub
#    tenant (main.bicep gives that principal the hub role). It never gets a secret:
#    postprovision.sh lets the app's managed identity sign for it instead;
# 2. the operator API's registration (infra/app/api-registration.json: identifier URI, app roles
#    HubLink.Reader/Operator/Approver, a delegated scope the Azure CLI may use), whose tokens App
#    Service Authentication accepts (main.bicep's apiClientId). Assign its roles: docs/deploy.md.
# Needs `az login` to the hub tenant with rights to register applications, and python3. Idempotent.
set -eu

api_registration() {
  api_name="aks-hublink-api-${AZURE_ENV_NAME:?AZURE_ENV_NAME is not set: run this through azd}"
  api_id="${HUBLINK_API_CLIENT_ID:-}"
  if [ -z "$api_id" ]; then
    api_id="$(az ad app list --display-name "$api_name" --query "[0].appId" -o tsv)"
  fi
  if [ -z "$api_id" ]; then
    api_id="$(az ad app create --display-name "$api_name" --sign-in-audience AzureADMyOrg --query appId -o tsv)"
    echo "aks-hublink: created the API's app registration $api_name ($api_id)"
  fi
  manifest="$(dirname "$0")/../app/api-registration.json"
  body="$(mktemp)"
  # The manifest as Graph takes it: {appId} filled in, our comment and display name left out. Pre-authorized
  # clients may only name scopes that already exist, so they go in a second PATCH.
  python3 - "$manifest" "$api_id" "$body" <<'PY'
import json, sys
doc = json.loads(open(sys.argv[1]).read().replace("{appId}", sys.argv[2]))
pre = doc["api"].pop("preAuthorizedApplications")
body = {k: doc[k] for k in ("signInAudience", "identifierUris", "api", "appRoles")}
json.dump(body, open(sys.argv[3], "w"))
json.dump({"api": {**doc["api"], "preAuthorizedApplications": pre}}, open(sys.argv[3] + ".pre", "w"))
PY
  graph="https://graph.microsoft.com/v1.0/applications(appId='$api_id')"
  az rest --method PATCH --uri "$graph" --headers Content-Type=application/json --body @"$body" >/dev/null
  az rest --method PATCH --uri "$graph" --headers Content-Type=application/json --body @"$body.pre" >/dev/null
  rm -f "$body" "$body.pre"
  api_sp="$(az ad sp list --filter "appId eq '$api_id'" --query "[0].id" -o tsv)"
  if [ -z "$api_sp" ]; then
    api_sp="$(az ad sp create --id "$api_id" --query id -o tsv)"
  fi
  # Only people, groups and applications given one of the roles may get a token for the API at all.
  az ad sp update --id "$api_id" --set appRoleAssignmentRequired=true
  azd env set HUBLINK_API_CLIENT_ID "$api_id"
  echo "aks-hublink: API app registration $api_id (audience api://$api_id, service principal $api_sp)"
}

api_registration

if [ -n "${HUBLINK_APP_CLIENT_ID:-}" ] && [ -n "${HUBLINK_APP_PRINCIPAL_ID:-}" ]; then
  echo "aks-hublink: app registration ${HUBLINK_APP_CLIENT_ID} (service principal ${HUBLINK_APP_PRINCIPAL_ID})"
  exit 0
fi

name="aks-hublink-${AZURE_ENV_NAME:?AZURE_ENV_NAME is not set: run this through azd}"
app_id="${HUBLINK_APP_CLIENT_ID:-}"
if [ -z "$app_id" ]; then
  app_id="$(az ad app list --display-name "$name" --query "[0].appId" -o tsv)"
fi
if [ -z "$app_id" ]; then
  app_id="$(az ad app create --display-name "$name" --sign-in-audience AzureADMultipleOrgs --query appId -o tsv)"
  echo "aks-hublink: created multi-tenant app registration $name ($app_id)"
fi

sp_id="$(az ad sp list --filter "appId eq '$app_id'" --query "[0].id" -o tsv)"
if [ -z "$sp_id" ]; then
  sp_id="$(az ad sp create --id "$app_id" --query id -o tsv)"
  echo "aks-hublink: created its service principal in the hub tenant ($sp_id)"
fi

azd env set HUBLINK_APP_CLIENT_ID "$app_id"
azd env set HUBLINK_APP_PRINCIPAL_ID "$sp_id"
