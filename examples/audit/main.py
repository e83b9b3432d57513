"""README's `audit` function: the destination of `orders`' successful async calls (`--on-success function:audit`); logs which call succeeded."""


def handler(event, context):
    request = event.get("requestContext", {})
    print("audit %s %s" % (request.get("functionArn"), request.get("requestId")))
    return {"audited": request.get("requestId")}
