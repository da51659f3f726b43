#!/bin/sh
echo "hello from $0"
