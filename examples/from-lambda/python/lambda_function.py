# The function the Lambda console writes for a new Python function, with a log line and the
# platform's boto3: it runs on Nimbus as it is (handler lambda_function.lambda_handler).
import json
import logging

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def lambda_handler(event, context):
    logger.info("event %s in %s", json.dumps(event), context.invoked_function_arn)
    return {
        "statusCode": 200,
        "body": json.dumps("Hello from Lambda!"),
        "boto3": boto3.__version__,
        "requestId": context.aws_request_id,
    }
