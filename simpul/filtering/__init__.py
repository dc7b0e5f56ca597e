"""Content filtering: category lists (streaming, gambling, …) for the policy DNS front end."""
