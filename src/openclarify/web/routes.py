def console_routes(cp):
    return []
