"""A module shipped in a layer: functions `import greetings` without bundling it."""


def greet(name):
    return f"Hello, {name}! (from the greetings layer)"
