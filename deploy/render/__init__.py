"""Deployment files rendered from the one worker registry (``python -m deploy.render``, `make
deploy`): the Kubernetes base (k8s), the compose workers (compose), the Prometheus scrape
configurations (prometheus) and the per-image requirements (requirements). A development tool,
not shipped in the wheel."""
