"""README's `images` function behind a wsgi-style HTTP trigger: a PEP 3333 application serving its packaged cat.png."""


def handler(environ, start_response):
    image = open("/code/cat.png", "rb").read()
    start_response("200 OK", [("Content-Type", "image/png")])
    return [image]
