"""One project's run: the state machine, gate and metrics, JUnit, ownership and leftover cleanup, the stage contract."""
