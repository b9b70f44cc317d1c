"""Airflow's metadata database for a test: created once, and DAGs written to it as the DAG processor
would, so ``dag.test()`` runs a DAG wherever its file lives::

    db = AirflowTestDB.create()   # what the pytest plugin's ``airflow_db`` fixture gives
    db.add(dag)
    dag.test()

From Airflow 3.1, ``dag.test()`` only runs a DAG it finds serialized in the database (it looks in
the configured DAG bundles); Airflow 3.0 runs the DAG object directly, and ``add`` writes nothing.
Imported only when the fixture is used: importing it imports Airflow.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

BUNDLE = "dags-folder"


class AirflowTestDB:
    """The configured metadata database, ready for ``dag.test()``."""

    @classmethod
    def create(cls) -> AirflowTestDB:
        """Create the tables (or migrate an existing database to this Airflow's version)."""
        from airflow.utils import db

        db.initdb()
        return cls()

    def add(self, *dags: Any) -> None:
        """Write ``dags`` to the database, serialized, in the ``dags-folder`` bundle."""
        if _sync_bag_to_db() is None:  # Airflow 3.0 runs the DAG object itself
            return
        bag = dag_bag(os.devnull)
        for dag in dags:
            bag.bag_dag(dag)
        write_to_db(bag)


def write_to_db(bag: Any) -> None:
    """Write a DagBag's DAGs to the DB, serialized, as the DAG processor does (dags-folder bundle)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    manager: Any = DagBundlesManager  # untyped on some Airflow releases
    manager().sync_bundles_to_db()
    sync_bag_to_db = _sync_bag_to_db()
    if sync_bag_to_db is None:  # Airflow 3.0
        bag.sync_to_db(BUNDLE, None)
    else:
        sync_bag_to_db(bag, BUNDLE, None)


def _sync_bag_to_db() -> Any:
    """``sync_bag_to_db``: in airflow.dag_processing.dagbag from 3.2, airflow.models.dagbag on 3.1."""
    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db
    except ImportError:
        try:
            from airflow.models.dagbag import sync_bag_to_db  # type: ignore[no-redef]
        except ImportError:  # Airflow 3.0 has DagBag.sync_to_db instead
            return None
    return sync_bag_to_db


def dag_bag(folder: str) -> Any:
    """A DagBag of ``folder`` (its class moved between Airflow 3.0 and 3.1)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    bag_class: Any = DagBag  # its parameters differ between releases
    takes_examples = "include_examples" in inspect.signature(bag_class.__init__).parameters
    return bag_class(dag_folder=folder, include_examples=False) if takes_examples else bag_class(folder)
