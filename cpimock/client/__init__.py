"""The sender side: `cpimock call` and its plain-words diagnosis of a failed call."""
