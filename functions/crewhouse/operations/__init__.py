"""Operations: what reaches the people who run a deployment (alarm notifications to a chat channel)."""
