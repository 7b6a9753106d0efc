"""What the server signs: the TUF repository and its keys, releases, and rollouts as signed targets."""
