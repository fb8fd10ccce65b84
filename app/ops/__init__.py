"""Operations tooling behind the CLI: post-deploy verification, rollback, customer tenant configs."""
