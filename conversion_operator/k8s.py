"""The operator's calls to the Kubernetes API (the official client, run in a thread pool).

Kopf watches; this module does the few writes and reads Kopf does not: Jobs, the per-job RBAC,
ConversionJob status patches, and ConversionJobs made from ``conversion.requested``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from common.kube import MERGE_PATCH, load_configuration
from common.resources import GROUP, PLURAL, VERSION

BACKGROUND = "Background"
PEERING = ("kopf.dev", "v1", "kopfpeerings")
WORKERS = 16


class Kube:
    def __init__(self) -> None:
        configuration = load_configuration()  # $KUBECONFIG (the devstack) or the pod's ServiceAccount
        configuration.connection_pool_maxsize = WORKERS
        self.api = client.ApiClient(configuration)
        self.batch = client.BatchV1Api(self.api)
        self.core = client.CoreV1Api(self.api)
        self.rbac = client.RbacAuthorizationV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="kube")

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.api.close()

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))

    # -- the converter's Job and RBAC -----------------------------------------------------------

    async def create_job(self, job: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create the Job, or return the one of that name that exists; (job, created)."""
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        try:
            made = await self._call(self.batch.create_namespaced_job, ns, job)
            return self.api.sanitize_for_serialization(made), True
        except ApiException as exc:
            if exc.status != 409:
                raise
        found = await self._call(self.batch.read_namespaced_job, name, ns)
        return self.api.sanitize_for_serialization(found), False

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete the Job; the garbage collector then deletes its pods (which stops them)."""
        try:
            await self._call(self.batch.delete_namespaced_job, name, namespace, propagation_policy=BACKGROUND)
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def list_jobs(self, namespace: str, label: str) -> list[dict[str, Any]]:
        """The namespace's Jobs carrying ``label`` (the converter Jobs), as plain dicts."""
        found = await self._call(self.batch.list_namespaced_job, namespace, label_selector=label)
        return list(self.api.sanitize_for_serialization(found).get("items") or [])

    async def unsuspend_job(self, namespace: str, name: str) -> None:
        """Admit a suspended Job: the Job controller then creates its pod."""
        patch = {"spec": {"suspend": False}}
        await self._call(self.batch.patch_namespaced_job, name, namespace, patch, _content_type=MERGE_PATCH)

    async def ensure(self, obj: dict[str, Any]) -> bool:
        """Create a ServiceAccount, Role or RoleBinding unless it exists; True if created."""
        ns = obj["metadata"]["namespace"]
        creators: dict[str, Any] = {
            "ServiceAccount": self.core.create_namespaced_service_account,
            "Role": self.rbac.create_namespaced_role,
            "RoleBinding": self.rbac.create_namespaced_role_binding,
        }
        create = creators[obj["kind"]]
        try:
            await self._call(create, ns, obj)
            return True
        except ApiException as exc:
            if exc.status != 409:
                raise
            return False

    # -- ConversionJobs --------------------------------------------------------------------------

    async def get_conversionjob(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            get = self.custom.get_namespaced_custom_object
            found = await self._call(get, GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(found)

    async def list_conversionjobs(self, namespace: str) -> list[dict[str, Any]]:
        list_ = self.custom.list_namespaced_custom_object
        found = await self._call(list_, GROUP, VERSION, namespace, PLURAL)
        return list(found.get("items") or [])

    async def delete_conversionjob(self, namespace: str, name: str, uid: str) -> None:
        """Delete it (its finalizer then cleans up), only if it is still the one with ``uid``."""
        delete = self.custom.delete_namespaced_custom_object
        body = {"preconditions": {"uid": uid}, "propagationPolicy": BACKGROUND}
        try:
            await self._call(delete, GROUP, VERSION, namespace, PLURAL, name, body=body)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self._call(
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": status},
            _content_type=MERGE_PATCH,
        )

    def create_conversionjob_sync(self, body: dict[str, Any]) -> bool:
        """Create a ConversionJob unless one of that name exists; True if created. (Sync: used by
        the conversion.requested consumer's worker thread.)"""
        ns = body["metadata"]["namespace"]
        try:
            self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
            return True
        except ApiException as exc:
            if exc.status != 409:
                raise
            return False

    # -- Kopf's peering object -------------------------------------------------------------------

    async def ensure_peering(self, namespace: str, name: str) -> None:
        body = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": name}}
        try:
            group, version, plural = PEERING
            create = self.custom.create_namespaced_custom_object
            await self._call(create, group, version, namespace, plural, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
