"""Notices (文书): deciding which notices a cycle, a plan or a list event calls for, numbering, storing and
rendering them (text, HTML, PDF) from their stored context with the shipped or a user's templates. Everything is
read from the store; notices never import ``lists`` (lists call :mod:`notices.issue`).
"""
