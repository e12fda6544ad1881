"""Deployments and predictions: what runs where and since when, and which version made a prediction.

- ``deploy``: ``deploy`` and ``undeploy`` (one journaled change each: the model's
  ``deployments.yaml`` and an audit entry, then the hooks), under the environment's rules.
- ``deployed``: what runs where, now (from the files) or at any moment (replayed from the history).
- ``copies``: a directory against a version's files (the served copy's stamp where it is valid,
  else the bytes), and finding the version a directory holds.
- ``which``: a prediction id to the version that made it and the environments serving it then.
- ``check``: ``deploy-check``, the readiness probe.
- ``observe``: production measurements, recorded as audit entries and read back per version.
"""
