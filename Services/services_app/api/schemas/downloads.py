from ninja import Schema


class ConnectorOut(Schema):
    name: str
    description: str
