"""wsolx.models"""
