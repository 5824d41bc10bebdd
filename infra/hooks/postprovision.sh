#!/bin/sh
# azd postprovision hook: a federated credential on the app registration that trusts the function
# app's user-assigned managed identity, so the app gets tokens for any tenant without a secret.
# Inputs are main.bicep outputs, which azd puts in the environment. Idempotent.
set -eu

app_id="${HUBLINK_APP_CLIENT_ID:?run azd provision first}"
subject="${MANAGED_IDENTITY_PRINCIPAL_ID:?run azd provision first}"
issuer="${FEDERATED_ISSUER:?run azd provision first}"

found="$(az ad app federated-credential list --id "$app_id" \
  --query "length([?subject=='$subject' && issuer=='$issuer'])" -o tsv)"
if [ "$found" = "0" ]; then
  az ad app federated-credential create --id "$app_id" --parameters "{
    \"name\": \"aks-hublink-${AZURE_ENV_NAME:-hub}\",
    \"issuer\": \"$issuer\",
    \"subject\": \"$subject\",
    \"audiences\": [\"api://AzureADTokenExchange\"],
    \"description\": \"The aks-hublink function app's managed identity\"
  }" >/dev/null
  echo "aks-hublink: app registration $app_id now trusts managed identity $subject"
fi

cat <<MSG
aks-hublink is provisioned. Next (docs/deploy.md, "Onboard a spoke"):
  1. azd deploy (if this was azd provision) so the Event Grid trigger exists;
  2. each spoke tenant's admin: az ad sp create --id $app_id
  3. each spoke subscription's owner: az deployment sub create --template-file infra/spoke.bicep ...
     with webhookUrl = ${EVENTGRID_WEBHOOK_BASE:-<EVENTGRID_WEBHOOK_BASE>}&code=<eventgrid_extension key>
MSG
