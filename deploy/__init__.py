"""Deployment: images, manifests, scrape configurations and their rendering (``deploy.render``)."""
