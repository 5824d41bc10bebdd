"""GET /metadata/endpoints: how a client (the Azure CLI, Azure SDKs) learns a cloud's endpoints.

`az cloud register --endpoint-resource-manager <devcloud>` asks
`<arm>/metadata/endpoints?api-version=2022-09-01` and maps the answer onto its cloud profile:
`authentication.loginEndpoint` becomes the authority, `authentication.audiences[0]` the token
audience, `resourceManager` the ARM endpoint. `ARM_CLOUD_METADATA_URL` (used with
api-version=2019-05-01) expects a LIST of clouds instead. Both are served, unauthenticated as ARM
serves them; any other api-version gets ARM's 400 InvalidApiVersionParameter.

devcloud is one process: Entra ID and ARM share its base URL, and the audience is ARM's
classic `https://management.core.windows.net/` (the one azure-cli's public cloud uses), which
devcloud's token endpoint accepts.
"""

from __future__ import annotations

from typing import Any

from devcloud.httpserver import Request, Response, error_body

CLOUD_NAME = "devcloud"
AUDIENCE = "https://management.core.windows.net/"
SINGLE = ("2022-09-01", "2020-06-01")  # one cloud object: the cloud whose ARM answered
LISTED = ("2019-05-01",)  # every cloud ARM knows, as a list


def cloud_metadata(base_url: str) -> dict[str, Any]:
    base = base_url.rstrip("/")
    return {
        "name": CLOUD_NAME,
        "portal": f"{base}/portal",
        "resourceManager": f"{base}/",
        "authentication": {"loginEndpoint": f"{base}/", "audiences": [AUDIENCE, "https://management.azure.com/"],
                           "tenant": "common", "identityProvider": "AAD"},
        "graph": f"{base}/graph/",
        "graphAudience": f"{base}/graph/",
        "microsoftGraphResourceId": f"{base}/graph/",
        "media": f"{base}/media/",
        "batch": f"{base}/batch/",
        "sqlManagement": f"{base}/sql/",
        "activeDirectoryDataLake": f"{base}/datalake/",
        "vmImageAliasDoc": f"{base}/vmimagealiases.json",
        "gallery": f"{base}/gallery/",
        "suffixes": {"acrLoginServer": "azurecr.devcloud.invalid", "keyVaultDns": "vault.devcloud.invalid",
                     "storage": "core.devcloud.invalid", "sqlServerHostname": "database.devcloud.invalid"},
    }


def register(router: Any, base_url_getter) -> None:
    def endpoints(req: Request) -> Response:
        version = req.query.get("api-version")
        if version in SINGLE:
            return Response.json(200, cloud_metadata(base_url_getter()))
        if version in LISTED:
            return Response.json(200, [cloud_metadata(base_url_getter())])
        supported = ",".join((*SINGLE, *LISTED))
        return Response.json(400, error_body("InvalidApiVersionParameter",
                                             f"The api-version '{version}' is invalid. The supported versions are "
                                             f"'{supported}'."))

    router.add("GET", "/metadata/endpoints", endpoints)
