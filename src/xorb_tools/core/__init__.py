"""What every capability stands on: the error type, the one engine client, the service
table and its schema, checked user input, git facts, the CA bundle, registries, facts
about local images, extra engines, scratch workspaces and the one polling helper.
Nothing here imports from the capability packages."""
