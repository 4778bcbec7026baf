"""Employees (users) of the HR monolith and the services that change them."""
