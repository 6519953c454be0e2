"""The invoke namespace: ``tasks.py`` at the repository root only imports :func:`namespace`."""

from __future__ import annotations

from invoke.collection import Collection

from xorb_tools.tasks import bench, cli, config, doctor, images, report, supply
from xorb_tools.tasks import cluster as cluster_tasks
from xorb_tools.tasks import deploy as deploy_tasks
from xorb_tools.tasks import stack as stack_tasks
from xorb_tools.tasks import swarm as swarm_tasks
from xorb_tools.tasks import workflows as workflow_tasks


def _service_names() -> list[str]:
    from xorb_tools.core import services

    return [svc.name for svc in services.load().services]


def namespace() -> Collection:
    """Every task, grouped as users see them in ``inv --list``; service names may follow a
    task as plain words (:mod:`xorb_tools.tasks.cli`)."""
    cli.install(_service_names)
    ns = Collection()
    ns.add_task(images.build)
    ns.add_task(images.push)
    ns.add_task(images.pull)
    ns.add_task(images.clean)
    ns.add_task(images.base_image_task)
    ns.add_task(images.infra_images)
    for supply_task in (supply.release, supply.sign, supply.verify, supply.keygen):
        ns.add_task(supply_task)
    ns.add_task(doctor.doctor)
    ns.add_task(report.security_scan)
    ns.add_task(report.size_report)
    ns.add_task(bench.bench)
    ns.add_collection(Collection("config", config.validate))
    for stack_task in (
        stack_tasks.up,
        stack_tasks.down,
        stack_tasks.logs,
        stack_tasks.ps,
        stack_tasks.restart,
        stack_tasks.scale,
        stack_tasks.exec_,
        stack_tasks.stats,
    ):
        ns.add_task(stack_task)
    ns.add_collection(Collection("secrets", stack_tasks.secrets_init))
    ns.add_collection(swarm_tasks.collection())
    ns.add_collection(cluster_tasks.collection())
    ns.add_collection(deploy_tasks.collection())
    ns.add_collection(workflow_tasks.collection())
    ns.add_task(deploy_tasks.rollback)
    ns.add_task(deploy_tasks.smoke_test)
    ns.configure({"run": {"echo": True, "pty": False}})
    return ns
