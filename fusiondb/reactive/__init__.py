"""Live queries: the subscription manager takes committed write sets from the change feed,
finds the live queries whose read sets they touch (interval indexes per index, a matcher for
searches), re-runs only those, and publishes changed values to their ``Subscription``
handles, in commit order."""
