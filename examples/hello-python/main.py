"""A minimal Nimbus function: deploy with `nimbus deploy ./examples/hello-python --name hello --runtime python3 --handler main.handler`."""


def handler(event, context):
    name = event.get("name", "World")
    print("greeting %s" % name)
    return {"message": "Hello, %s!" % name, "requestId": context.aws_request_id}
