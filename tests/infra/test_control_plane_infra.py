"""Structural checks of the control plane's Bicep (infra/main.bicep and its modules), offline.

Least privilege, identity-only storage, no secrets in outputs, and app settings that satisfy the
settings model (derived from shared.settings.Settings, not from a second hand-kept list).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from bicep_support import (
    GUID,
    INFRA,
    REPO,
    bicep_files,
    body,
    default_of,
    dotted,
    find_key,
    load,
    module_file,
    object_keys,
    rel,
    resources,
)

from shared.settings import Settings

MAIN = INFRA / "main.bicep"
API = INFRA / "app" / "api.bicep"
WORKLOAD = INFRA / "app" / "workload.bicep"

OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7343ae4c6"
# Built-in role ids (AZURE-FACTS.md), and where each may be granted.
BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
QUEUE_MESSAGE_SENDER = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"
TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
STORAGE_ROLES = {BLOB_DATA_OWNER, QUEUE_DATA_CONTRIBUTOR, QUEUE_MESSAGE_SENDER, TABLE_DATA_CONTRIBUTOR}
INSIGHTS_ROLES = {"3913510d-42f4-4e42-8a64-420c390055eb"}  # Monitoring Metrics Publisher
WORKLOAD_ROLES = {
    "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",  # Virtual Machine Contributor
    "4d97b98b-1d4f-4787-a291-c67834d212e7",  # Network Contributor
    "43d0d8ad-25c7-4714-9337-8ba259a9fe05",  # Monitoring Reader
}
ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
TABLES = {"vms", "events", "idempotency", "tokens", "policy", "prices", "costs", "activity"}
SECRETISH_NAME = re.compile(r"key|password|passwd|secret|connectionstring|sas|credential", re.IGNORECASE)
SECRETISH_VALUE = re.compile(
    r"list_?keys|list_?connection_?strings|list_?account_?sas|list_?service_?sas|connectionstring|password|secret",
    re.IGNORECASE,
)


def main_doc() -> dict[str, Any]:
    return load(MAIN)


def allowed_values(doc: dict[str, Any], param: str) -> list[Any]:
    (allowed,) = (d["argument"] for d in doc["parameters"][param]["decorators"] if d["type"] == "allowed")
    return list(allowed)


def role_assignment_files() -> dict[Path, dict[str, dict[str, Any]]]:
    found = {}
    for path in bicep_files():
        assignments = resources(load(path), ROLE_ASSIGNMENT)
        if assignments:
            found[path] = assignments
    return found


def role_ids_in(path: Path) -> set[str]:
    return {g.lower() for g in GUID.findall(path.read_text())}


def app_settings() -> dict[str, Any]:
    """Every app setting the function app gets: main.bicep's appSettings plus api.bicep's own."""
    params = body(main_doc()["modules"]["api"])["params"]
    settings = dict(params["appSettings"])
    api = load(API)
    union_args = api["variables"]["allSettings"]["value"]["function"]["parameters"]
    assert union_args.pop("arg_1") == "appSettings", "allSettings must start from the appSettings parameter"
    for name in union_args.values():
        value = api["variables"][name]["value"]
        if isinstance(value, dict) and "operator" not in value:
            settings.update(value)
        else:
            settings.update(dict.fromkeys(object_keys(value), "(conditional)"))
    return settings


# --- azd wiring -------------------------------------------------------------------------------


def test_azure_yaml_declares_the_function_service() -> None:
    project = yaml.safe_load((REPO / "azure.yaml").read_text())
    api = project["services"]["api"]
    assert api["project"] == "."
    assert api["language"] in {"python", "py"}
    assert api["host"] == "function"


def test_main_is_subscription_scoped_with_azd_parameters() -> None:
    doc = main_doc()
    assert doc["globals"]["scope"]["value"] == "subscription"
    raw = (INFRA / "main.parameters.json").read_text()
    for var in ("${AZURE_ENV_NAME}", "${AZURE_LOCATION}", "${AZURE_PRINCIPAL_ID}"):
        assert var in raw
    given = set(json.loads(raw)["parameters"])
    declared = set(doc["parameters"])
    assert given <= declared, f"parameters.json names unknown params: {given - declared}"
    required = {name for name, p in doc["parameters"].items() if p["default"] is None}
    assert required <= given, f"required params missing from main.parameters.json: {required - given}"


def test_names_derive_from_the_resource_token() -> None:
    text = MAIN.read_text()
    assert re.search(
        r"resourceToken = toLower\(uniqueString\(subscription\(\)\.id, environmentName, location\)\)", text
    )
    abbrs = json.loads((INFRA / "abbreviations.json").read_text())
    used = set(re.findall(r"abbrs\.(\w+)", text))
    assert used <= set(abbrs), f"unknown abbreviations: {used - set(abbrs)}"


def test_every_module_file_exists_and_none_is_orphaned() -> None:
    referenced = set()
    for path in bicep_files():
        for name, module in load(path).get("modules", {}).items():
            target = module_file(path, module)
            assert target.is_file(), f"{rel(path)}: module {name} -> missing {target}"
            referenced.add(target)
    standalone = {MAIN.resolve(), (INFRA / "vm" / "dsvm.bicep").resolve()}
    orphans = {rel(p) for p in bicep_files()} - {rel(p) for p in referenced | standalone}
    assert orphans == set()


def test_modules_deploy_into_the_two_resource_groups_only() -> None:
    doc = main_doc()
    groups = resources(doc, "Microsoft.Resources/resourceGroups")
    assert set(groups) == {"rg", "workloadRg"}
    assert body(groups["rg"])["name"] != body(groups["workloadRg"])["name"]
    for name, module in doc["modules"].items():
        assert body(module).get("scope") in groups, f"module {name} is not deployed into a resource group"
    assert body(doc["modules"]["workload"])["scope"] == "workloadRg"


def test_no_nested_child_resources() -> None:
    """pycep (and so checkov) keeps only the last nested child; declare children with `parent:`."""
    for path in bicep_files():
        nested = re.findall(r"^[ \t]+resource \w+ '", path.read_text(), flags=re.MULTILINE)
        assert nested == [], f"{rel(path)} nests child resources: {nested}"


# --- least privilege ----------------------------------------------------------------------------


def test_no_owner_or_contributor_anywhere() -> None:
    for path in bicep_files():
        ids = role_ids_in(path)
        assert OWNER not in ids and CONTRIBUTOR not in ids, rel(path)
        text = path.read_text()
        assert not re.search(r"roleDefinitions'?,\s*'(Owner|Contributor)'", text), rel(path)


def test_only_the_expected_roles_are_granted_where_expected() -> None:
    files = role_assignment_files()
    by_file = {rel(path): role_ids_in(path) for path in files}
    assert by_file == {
        "infra/app/storage-access.bicep": STORAGE_ROLES,
        "infra/core/monitor/monitoring.bicep": INSIGHTS_ROLES,
        "infra/app/workload.bicep": WORKLOAD_ROLES,
    }


def test_no_role_assignment_at_subscription_scope() -> None:
    for path in bicep_files():
        doc = load(path)
        if doc["globals"]["scope"]["value"] != "resourceGroup":
            assert resources(doc, ROLE_ASSIGNMENT) == {}, f"{rel(path)} assigns roles above a resource group"
        for name, assignment in resources(doc, ROLE_ASSIGNMENT).items():
            scope = body(assignment).get("scope")
            assert scope is None or isinstance(scope, str), f"{rel(path)}:{name} scope is an expression"
            assert "subscription" not in json.dumps(scope).lower()


@pytest.mark.parametrize(
    ("file", "scope_types"),
    [
        (
            "app/storage-access.bicep",
            ("Microsoft.Storage/storageAccounts", "Microsoft.Storage/storageAccounts/queueServices/queues"),
        ),
        ("core/monitor/monitoring.bicep", ("Microsoft.Insights/components",)),
    ],
)
def test_resource_scoped_role_assignments(file: str, scope_types: tuple[str, ...]) -> None:
    doc = load(INFRA / file)
    for name, assignment in resources(doc, ROLE_ASSIGNMENT).items():
        config = body(assignment)
        scope = config.get("scope")
        allowed = {symbol for t in scope_types for symbol in resources(doc, t)}
        assert scope in allowed, f"{file}:{name} must be scoped to one of {scope_types}"
        props = config["properties"]
        assert props["principalType"] in {"ServicePrincipal", "deployerPrincipalType"}
        guid = config["name"]["function"]
        assert guid["type"] == "guid"
        assert scope in json.dumps(guid["parameters"]["base_string"]), "guid() must start from the scope's id"
        assert len(guid["parameters"]) == 3, "guid(scope, principalId, roleId)"


def test_workload_roles_land_in_the_group_the_app_uses() -> None:
    doc = load(WORKLOAD)
    assert doc["globals"]["scope"]["value"] == "resourceGroup"
    for name, assignment in resources(doc, ROLE_ASSIGNMENT).items():
        config = body(assignment)
        assert "scope" not in config, f"{name}: workload roles are scoped to the module's resource group"
        assert config["properties"]["principalType"] == "ServicePrincipal"
        assert "resource_group" in json.dumps(config["name"]), "guid(resourceGroup().id, principalId, roleId)"
    # The group the module (and so the roles) is deployed to is the group the app creates VMs in.
    assert dotted(app_settings()["DSVM_RESOURCE_GROUP"]) == "workloadRg.name"


def test_the_deployer_gets_data_roles_on_storage_only() -> None:
    for path, assignments in role_assignment_files().items():
        for name, assignment in assignments.items():
            props = body(assignment)["properties"]
            if props["principalType"] != "ServicePrincipal":
                assert rel(path) == "infra/app/storage-access.bicep", f"{rel(path)}:{name}"
                assert props["principalId"] == "deployerPrincipalId"


def test_the_deployer_principal_type_is_a_parameter_azd_fills_in() -> None:
    """A CI service principal running `azd up` must not be assigned roles as a 'User' (ARM refuses that)."""
    doc = main_doc()
    assert allowed_values(doc, "principalType") == ["User", "ServicePrincipal"]
    assert default_of(doc, "principalType") == "User"
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["principalType"]["value"] == "${AZURE_PRINCIPAL_TYPE=User}"
    access = body(doc["modules"]["storageAccess"])["params"]
    assert (access["deployerPrincipalId"], access["deployerPrincipalType"]) == ("principalId", "principalType")
    assert allowed_values(load(INFRA / "app/storage-access.bicep"), "deployerPrincipalType") == [
        "User",
        "ServicePrincipal",
    ]
    for path in bicep_files():
        assert not re.search(r"principalType:\s*'User'", path.read_text()), f"{rel(path)} hard-codes principalType User"


# --- region -------------------------------------------------------------------------------------


def documented_regions() -> list[str]:
    """The regions on the "Allowed regions:" line of docs/deploy.md."""
    line = re.search(r"^Allowed regions: (.*)$", (REPO / "docs" / "deploy.md").read_text(), flags=re.MULTILINE)
    assert line is not None, "docs/deploy.md lists no allowed regions"
    return re.findall(r"`([a-z0-9]+)`", line[1])


def test_location_is_limited_to_flex_consumption_regions() -> None:
    regions = allowed_values(main_doc(), "location")
    assert len(regions) == len(set(regions)) >= 20
    assert all(re.fullmatch(r"[a-z]+[0-9]?", r) for r in regions), regions
    assert not [r for r in regions if r.endswith("euap")], "canary regions are not open to customers"
    assert sorted(regions) == sorted(documented_regions()), "docs/deploy.md and main.bicep list different regions"
    readme_region = re.search(r"AZURE_LOCATION (\w+)", (REPO / "README.md").read_text())
    assert readme_region is not None and readme_region[1] in regions


# --- storage ------------------------------------------------------------------------------------


def test_storage_is_entra_only() -> None:
    (storage,) = resources(
        load(INFRA / "core/storage/storage-account.bicep"), "Microsoft.Storage/storageAccounts"
    ).values()
    props = body(storage)["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    for path in bicep_files():
        for value in find_key(load(path), "allowSharedKeyAccess"):
            assert value is False, rel(path)


def test_the_app_tables_are_created() -> None:
    doc = main_doc()
    assert set(doc["variables"]["tableNames"]["value"]) == TABLES
    prefix = Settings.model_fields["table_prefix"].default
    assert default_of(doc, "tablePrefix") == prefix
    tables = body(doc["modules"]["storage"])["params"]["tables"]
    assert tables["loop_type"]["detail"]["array_name"] == "tableNames"
    assert tables["config"] == "${tablePrefix}${t}"
    assert app_settings()["DSVM_TABLE_PREFIX"] == "tablePrefix"


def test_every_table_the_code_names_is_created() -> None:
    named = set()
    for path in (REPO / "shared").rglob("*.py"):
        named |= set(re.findall(r"\{prefix\}(\w+)", path.read_text()))
    assert named <= TABLES, f"tables used in shared/ but not created in Bicep: {named - TABLES}"


# --- the work queue ------------------------------------------------------------------------------

# The identity-based connection `DSVM_QUEUE` of the queue trigger (and of the app's own sends).
QUEUE_CONNECTION = {
    "DSVM_QUEUE__queueServiceUri": "storage.properties.primaryEndpoints.queue",
    "DSVM_QUEUE__credential": "managedidentity",
    "DSVM_QUEUE__clientId": "identityClientId",
}
ACCESS = INFRA / "app" / "storage-access.bicep"


def test_the_work_queue_and_its_poison_queue_are_created() -> None:
    doc = main_doc()
    assert doc["variables"]["workQueueName"]["value"] == "dsvm-work"
    # The Functions host moves failed messages to '<queue>-poison' (and creates it only if it is missing).
    assert doc["variables"]["poisonQueueName"]["value"] == "${workQueueName}-poison"
    assert body(doc["modules"]["storage"])["params"]["queues"] == ["workQueueName", "poisonQueueName"]
    storage = load(INFRA / "core/storage/storage-account.bicep")
    (queues,) = resources(storage, "Microsoft.Storage/storageAccounts/queueServices/queues").values()
    assert queues["config"]["loop_type"]["detail"]["array_name"] == "queues"
    access = body(doc["modules"]["storageAccess"])["params"]
    assert (access["workQueueName"], access["poisonQueueName"]) == ("workQueueName", "poisonQueueName")


def test_the_queue_connection_is_identity_based() -> None:
    settings = app_settings()
    assert {k: dotted(settings[k]) for k in QUEUE_CONNECTION} == QUEUE_CONNECTION
    assert "DSVM_QUEUE" not in settings, "no connection string"


def queue_roles() -> dict[str, tuple[str, str]]:
    """Role assignment symbol -> (scope symbol, role id) for the assignments on queues."""
    doc = load(ACCESS)
    queues = resources(doc, "Microsoft.Storage/storageAccounts/queueServices/queues")
    text = ACCESS.read_text()
    roles = {}
    for name, assignment in resources(doc, ROLE_ASSIGNMENT).items():
        config = body(assignment)
        if config.get("scope") in queues:
            role_var = config["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
            role_id = re.search(rf"var {role_var} = '([0-9a-f-]+)'", text)
            assert role_id is not None, role_var
            roles[name] = (config["scope"], role_id[1])
    return roles


def test_queue_roles_are_least_privilege_on_each_queue() -> None:
    """Trigger + send on the work queue; only send (the poison move) on the poison queue; none account-wide."""
    doc = load(ACCESS)
    queues = resources(doc, "Microsoft.Storage/storageAccounts/queueServices/queues")
    assert {body(q)["name"] for q in queues.values()} == {"workQueueName", "poisonQueueName"}
    by_queue = {body(queues[scope])["name"]: role for scope, role in queue_roles().values()}
    assert by_queue == {"workQueueName": QUEUE_DATA_CONTRIBUTOR, "poisonQueueName": QUEUE_MESSAGE_SENDER}
    account_roles = doc["variables"]["identityAccountRoles"]["value"]
    assert set(account_roles) == {"storageTableDataContributor", "storageBlobDataOwner"}, "no account-wide queue role"
    for name, assignment in resources(doc, ROLE_ASSIGNMENT).items():
        props = body(assignment)["properties"]
        if props["principalId"] == "identityPrincipalId":
            assert props["principalType"] == "ServicePrincipal", name


# --- the function app -------------------------------------------------------------------------


def test_app_settings_cover_the_settings_model() -> None:
    settings = app_settings()
    fields = Settings.model_fields
    required = {f.alias for f in fields.values() if f.is_required()}
    assert required, "the settings model has no required field?"
    assert required <= set(settings), f"missing required app settings: {required - set(settings)}"
    table_source = {fields["tables_connection"].alias, fields["tables_endpoint"].alias}
    assert table_source & set(settings), f"one of {table_source} must be set"
    assert dotted(settings["DSVM_TABLES_ENDPOINT"]) == "storage.outputs.tableEndpoint"
    assert dotted(settings["DSVM_SUBNET_ID"]) == "workload.outputs.subnetId"
    assert dotted(settings[fields["azure_client_id"].alias]) == "identity.outputs.clientId"


def test_app_settings_are_known_names() -> None:
    """No typo'd setting: every app setting is an alias of the settings model, or read by the platform."""
    aliases = {f.alias for f in Settings.model_fields.values()}
    host = {k for k in app_settings() if k.startswith(("AzureWebJobsStorage__", "APPLICATIONINSIGHTS_"))}
    unknown = set(app_settings()) - aliases - host - set(QUEUE_CONNECTION)
    assert unknown == set()


def test_host_storage_and_telemetry_use_the_identity() -> None:
    settings = app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    for key in ("clientId", "blobServiceUri", "tableServiceUri"):
        assert f"AzureWebJobsStorage__{key}" in settings
    # Queue rights are granted per queue, so the host connection must not point at the queue service.
    assert "AzureWebJobsStorage__queueServiceUri" not in settings
    assert "AzureWebJobsStorage" not in settings, "no connection string"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"
    # Flex Consumption rejects these; the runtime comes from functionAppConfig.
    assert {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"}.isdisjoint(settings)


def test_function_app_on_flex_consumption() -> None:
    (plan,) = resources(load(INFRA / "core/host/flex-consumption-plan.bicep"), "Microsoft.Web/serverfarms").values()
    assert body(plan)["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert body(plan)["properties"]["reserved"] is True
    api = load(API)
    (site,) = resources(api, "Microsoft.Web/sites").values()
    props = body(site)["properties"]
    config = props["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert props["httpsOnly"] is True
    assert body(site)["identity"]["type"] == "UserAssigned"
    assert default_of(main_doc(), "instanceMemoryMB") == 2048
    loop = props["siteConfig"]["appSettings"]
    assert loop["loop_type"]["detail"]["array_name"]["function"]["parameters"]["arg_1"] == "allSettings"


def test_azd_finds_the_app_by_its_tag() -> None:
    tags = body(main_doc()["modules"]["api"])["params"]["tags"]
    assert {"'azd-service-name'": "api"} in tags["function"]["parameters"].values()


def test_application_insights_is_aad_only() -> None:
    doc = load(INFRA / "core/monitor/monitoring.bicep")
    (insights,) = resources(doc, "Microsoft.Insights/components").values()
    assert body(insights)["properties"]["DisableLocalAuth"] is True
    assert resources(doc, "Microsoft.OperationalInsights/workspaces")


def test_easy_auth_is_optional_and_strict() -> None:
    api = load(API)
    assert "var easyAuthEnabled = !empty(authClientId)" in API.read_text()
    (auth,) = (r for r in resources(api, "Microsoft.Web/sites/config").values() if body(r)["name"] == "authsettingsV2")
    props = body(auth)["properties"]
    assert props["platform"]["enabled"] == "easyAuthEnabled"
    validation = props["globalValidation"]
    assert validation["requireAuthentication"] == "easyAuthEnabled"
    assert validation["unauthenticatedClientAction"] == "Return401"
    assert "/api/health" in validation["excludedPaths"]
    (aad,) = find_key(props, "azureActiveDirectory")
    assert aad["registration"]["clientId"] == "authClientId"
    assert not list(find_key(props, "clientSecretSettingName")), "bearer validation needs no secret"
    settings = app_settings()
    assert "easyAuthEnabled" in json.dumps(settings["DSVM_EASY_AUTH"])
    assert "var easyAuthEnabled = !empty(authClientId)" in MAIN.read_text()


# --- outputs ------------------------------------------------------------------------------------


def test_main_outputs() -> None:
    outputs = main_doc()["outputs"]
    for name in (
        "AZURE_LOCATION",
        "AZURE_RESOURCE_GROUP",
        "DSVM_API",
        "DSVM_RESOURCE_GROUP",
        "AZURE_FUNCTION_APP_NAME",
        "AZURE_CLIENT_ID",
    ):
        assert name in outputs
    assert outputs["DSVM_API"]["value"] == "${api.outputs.uri}/api"
    assert load(API)["outputs"]["uri"]["value"] == "https://${functionApp.properties.defaultHostName}"
    assert dotted(outputs["DSVM_RESOURCE_GROUP"]["value"]) == "workloadRg.name"


@pytest.mark.parametrize("path", bicep_files(), ids=rel)
def test_no_output_looks_like_a_secret(path: Path) -> None:
    doc = load(path)
    secure = {
        name for name, p in doc.get("parameters", {}).items() if any(d["type"] == "secure" for d in p["decorators"])
    }
    for name, output in doc.get("outputs", {}).items():
        assert not SECRETISH_NAME.search(name), f"{rel(path)}: output {name}"
        value = json.dumps(output.get("value"))
        assert not SECRETISH_VALUE.search(value), f"{rel(path)}: output {name} = {value}"
        assert not any(re.search(rf"\b{s}\b", value) for s in secure), (
            f"{rel(path)}: output {name} leaks a @secure() param"
        )
        assert not any(d["type"] == "secure" for d in output.get("decorators", []))
    assert not re.search(r"\blist(Keys|ConnectionStrings|AccountSas|ServiceSas)\(", path.read_text()), rel(path)


def test_workload_network_defaults() -> None:
    doc = main_doc()
    assert default_of(doc, "workloadVnetAddressPrefix") == "10.20.0.0/16"
    assert default_of(doc, "workloadSubnetAddressPrefix") == "10.20.0.0/20"
    workload = load(WORKLOAD)
    assert resources(workload, "Microsoft.Network/virtualNetworks")
    assert workload["outputs"]["subnetId"]["value"] == "${vnet.id}/subnets/${subnetName}"
