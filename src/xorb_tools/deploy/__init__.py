"""Running the platform: compose stacks (:mod:`~xorb_tools.deploy.stack`), blue-green
deploys, Docker Swarm, the deploy log, secret files and smoke tests."""
