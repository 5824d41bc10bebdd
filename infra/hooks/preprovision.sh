#!/bin/sh
# azd preprovision hook: the multi-tenant app registration aks-hublink acts as, and its service
# principal in the hub tenant (main.bicep gives that principal the hub role). It never gets a
# secret: postprovision.sh lets the app's managed identity sign for it instead.
# Needs `az login` to the hub tenant with rights to register applications. Idempotent.
set -eu

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
