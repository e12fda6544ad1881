"""MLflow's client on a modelreg registry (extra ``modelreg[mlflow]``).

MLflow finds these through its plugin entry points (``pyproject.toml``): ``store.ModelregStore``
is the model registry store for ``modelreg:`` registry URIs, ``artifacts.ModelregArtifactRepository``
hands out a version's files for the ``modelreg:`` download URIs the store gives. ``stages`` maps
MLflow's stages to the registry's and back, ``filters`` answers MLflow's search grammar, ``uris``
reads the URIs, ``errors`` turns modelreg's errors into MLflow's, ``entities`` builds MLflow's
objects and ``source`` reads what MLflow logged (artifacts, run) for a new version.
MLflow is imported here and in ``modelreg.ops.importers.mlflow_source`` only.
"""
